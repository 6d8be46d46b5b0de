import { randomInt } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import { MAX_DISPLAY_NAME_LENGTH, removeForbiddenCharacters } from '../common/display-name';

/**
 * The name a node takes at its first start, until its user sets one: what is
 * left of the machine's short host name once it says nothing about the user,
 * and two plain words drawn at random, so that two machines both called
 * "MacBook-Pro", or two nodes on one machine, still look different in a peer
 * list. Words rather than digits or hex, so that nobody takes them for part
 * of a fingerprint.
 *
 * The name is announced on the LAN and shown to every peer, so the host name
 * loses the OS user name ("alice-ThinkPad", "Alices-MacBook-Pro") and its
 * hex or numeric parts (a container's host name is its 12-hex-digit id).
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

/** What the default name is made from; null userName when the OS does not tell it. */
export interface MachineNames {
  hostName: string;
  userName: string | null;
}

/** This machine's names; userInfo() throws for a uid without a passwd entry (common in containers). */
export function machineNames(): MachineNames {
  let userName: string | null;
  try {
    userName = userInfo().username;
  } catch {
    userName = null;
  }
  return { hostName: hostname(), userName };
}

export function defaultDisplayName(machine: MachineNames, pick: PickIndex = randomInt): string {
  const words = twoWords(pick);
  const room = MAX_DISPLAY_NAME_LENGTH - words.length - 1;
  const host = [...hostPart(machine)].slice(0, room).join('').replace(OUTER_SEPARATORS, '');
  return host === '' ? words : `${host} ${words}`;
}

/** Two distinct words, so "otter otter" never comes up. */
function twoWords(pick: PickIndex): string {
  const remaining = [...DEFAULT_NAME_WORDS];
  const drawn: string[] = [];
  for (let n = 0; n < 2; n += 1) {
    const index = pick(remaining.length);
    if (!Number.isInteger(index) || index < 0 || index >= remaining.length) {
      throw new Error(`pick returned ${index}, outside the ${remaining.length} default name words left`);
    }
    drawn.push(...remaining.splice(index, 1));
  }
  return drawn.join(' ');
}

const SEPARATORS = /[-._\s]/u;
const OUTER_SEPARATORS = /^[-._\s]+|[-._\s]+$/gu;
/** A container id, a MAC address or a serial number: reads like part of a fingerprint and names nothing. */
const MIN_SEARCHED_USER_NAME = 3;
const HEX_LIKE = /^(?=.*[0-9])[0-9a-f]{6,}$/iu;
const DIGITS = /^[0-9]+$/u;
const MEANINGFUL = /[\p{L}\p{N}]/u;

/** The short host name without the user name and without hex or numeric parts; '' when nothing meaningful is left. */
function hostPart({ hostName, userName }: MachineNames): string {
  // Invisible characters go first, so that none can hide the user name from the search.
  const visible = removeForbiddenCharacters(hostName);
  const user = userName === null ? '' : removeForbiddenCharacters(userName);
  // Before the domain is cut: a user name such as "john.doe" spans labels.
  // A very short one is only removed as a whole part: searched inside words, user "a" would turn "MacBook" into "McBook".
  const anonymous = [...user].length < MIN_SEARCHED_USER_NAME ? visible : withoutUserName(visible, user);
  return shortHostName(anonymous)
    .split(SEPARATORS)
    .filter((token) => MEANINGFUL.test(token) && !HEX_LIKE.test(token) && !DIGITS.test(token) && token.toLowerCase() !== user.toLowerCase())
    .join('-');
}

/** Every occurrence, in any case, with a possessive "s" or "'s": "Alices-MacBook-Pro" of user alice is "-MacBook-Pro". */
function withoutUserName(hostName: string, userName: string): string {
  const escaped = userName.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&');
  return hostName.replace(new RegExp(`${escaped}(?:['\u2019]?s)?`, 'giu'), '');
}

/**
 * `laptop.local` or `laptop.example.org` as `laptop`: the domain says nothing
 * to a person. Nothing when the first label is empty (`alice.local` once
 * alice is gone): the domain is never taken for a host name.
 */
function shortHostName(hostName: string): string {
  return hostName.split('.')[0] ?? '';
}
