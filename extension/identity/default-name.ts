import { randomInt } from 'node:crypto';
import { MAX_DISPLAY_NAME_LENGTH, stripForbiddenCharacters } from '../common/display-name';

/**
 * The name a node takes at its first start, until its user sets one: the
 * machine's short host name and a plain word drawn once at random, so that
 * two machines both called "MacBook-Pro" still look different in a peer
 * list. A word rather than digits or hex, so that nobody takes it for part
 * of a fingerprint; nothing else about the machine or its user is read.
 */
export const DEFAULT_NAME_WORDS: readonly string[] = [
  'otter', 'maple', 'heron', 'willow', 'falcon', 'meadow', 'pebble', 'harbor',
  'lantern', 'birch', 'comet', 'fern', 'glacier', 'juniper', 'kestrel', 'lark',
  'marble', 'nutmeg', 'orchid', 'pine', 'quartz', 'robin', 'sparrow', 'thistle',
  'tulip', 'walnut', 'wren', 'aspen', 'badger', 'clover', 'dune', 'ember',
  'finch', 'garnet', 'hazel', 'iris', 'jasper', 'lotus', 'moss', 'oak',
  'pelican', 'reed', 'sage', 'tide', 'valley', 'violet', 'yarrow', 'zinnia',
];

/** Draws an integer in [0, count). */
export type PickIndex = (count: number) => number;

export function defaultDisplayName(hostName: string, pick: PickIndex = randomInt): string {
  const index = pick(DEFAULT_NAME_WORDS.length);
  const word = DEFAULT_NAME_WORDS[index];
  if (word === undefined) throw new Error(`pick returned ${index}, outside the ${DEFAULT_NAME_WORDS.length} default name words`);
  const room = MAX_DISPLAY_NAME_LENGTH - word.length - 1;
  const host = [...stripForbiddenCharacters(shortHostName(hostName))].slice(0, room).join('').trim();
  return host === '' ? word : `${host} ${word}`;
}

/** `alice-laptop.local` or `alice-laptop.example.org` as `alice-laptop`: the domain says nothing to a person. */
function shortHostName(hostName: string): string {
  return hostName.split('.').find((label) => label.trim() !== '') ?? '';
}
