import { hostname } from 'node:os';
import { join } from 'node:path';
import { P2pError } from '../errors';
import { readFileIfExists, writeFileAtomic } from '../storage/atomic-file';

/**
 * The name other people see for this node. Control characters could forge
 * extra lines in a peer list and bidirectional overrides could make one name
 * read like another, so both are refused; the same rule as the
 * `set_display_name` schema in manifest.json, which counts code points too.
 *
 * File `<data_dir>/profile.json`, mode 0600: `{"version":1,"display_name":"..."}`.
 * Without it the node uses a name derived from the host name.
 */
export const DISPLAY_NAME_PATTERN = /^[^\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]{1,64}$/u;

export const PROFILE_FILE_NAME = 'profile.json';

const DISALLOWED_CHARACTER = /[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/u;
const MAX_DISPLAY_NAME_LENGTH = 64;

export function validateDisplayName(name: string): string {
  const length = [...name].length;
  if (length < 1 || length > MAX_DISPLAY_NAME_LENGTH) {
    throw new P2pError('INVALID_INPUT', `a display name must be 1-${MAX_DISPLAY_NAME_LENGTH} characters long, this one has ${length}`);
  }
  const disallowed = DISALLOWED_CHARACTER.exec(name);
  if (disallowed !== null) {
    const codePoint = `U+${(disallowed[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
    throw new P2pError(
      'INVALID_INPUT',
      `a display name must not contain control or text-direction characters, this one contains ${codePoint}`,
    );
  }
  if (name.trim() === '') {
    throw new P2pError('INVALID_INPUT', 'a display name must contain more than whitespace');
  }
  return name;
}

export class Profile {
  private constructor(
    private readonly path: string,
    private name: string,
  ) {}

  /** `hostName` only feeds the default name; it is a parameter so that tests can pass an awkward one. */
  static open(dataDir: string, hostName = hostname()): Profile {
    const path = join(dataDir, PROFILE_FILE_NAME);
    const content = readFileIfExists(path);
    return new Profile(path, content === undefined ? defaultDisplayName(hostName) : parseProfile(path, content));
  }

  get displayName(): string {
    return this.name;
  }

  setDisplayName(name: string): string {
    validateDisplayName(name);
    writeFileAtomic(this.path, `${JSON.stringify({ version: 1, display_name: name })}\n`, 0o600);
    this.name = name;
    return name;
  }
}

function defaultDisplayName(hostName: string): string {
  const cleaned = `p2p-comm on ${hostName}`.replace(new RegExp(DISALLOWED_CHARACTER.source, 'gu'), '');
  return [...cleaned].slice(0, MAX_DISPLAY_NAME_LENGTH).join('').trim();
}

function parseProfile(path: string, content: Buffer): string {
  const parsed = displayNameIn(content);
  if ('name' in parsed) return parsed.name;
  throw new P2pError(
    'STATE_FILE_CORRUPT',
    `the profile ${path} is corrupt: ${parsed.problem}. Fix it, or move it away to go back to the default display name`,
  );
}

function displayNameIn(content: Buffer): { name: string } | { problem: string } {
  let file: unknown;
  try {
    file = JSON.parse(content.toString('utf8'));
  } catch {
    return { problem: 'it is not valid JSON' };
  }
  if (typeof file !== 'object' || file === null || Array.isArray(file)) return { problem: 'it is not a JSON object' };
  const fields = file as Record<string, unknown>;
  if (fields['version'] !== 1) return { problem: `its version is ${JSON.stringify(fields['version'])}, expected 1` };
  const name = fields['display_name'];
  if (typeof name !== 'string') return { problem: 'its display_name is missing or not a string' };
  try {
    return { name: validateDisplayName(name) };
  } catch (error) {
    return { problem: `its display_name is refused: ${(error as Error).message}` };
  }
}
