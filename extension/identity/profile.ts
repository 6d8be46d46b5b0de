import { hostname } from 'node:os';
import { join } from 'node:path';
import { P2pError } from '../common/errors';
import { stripForbiddenCharacters, validateDisplayName } from '../common/display-name';
import { readFileIfExists, writeFileAtomic } from '../common/atomic-file';

/**
 * The name other people see for this node (the rule is common/display-name.ts).
 *
 * File `<data_dir>/profile.json`, mode 0600: `{"version":1,"display_name":"..."}`.
 * Without it the node uses a name derived from the host name.
 */
export const PROFILE_FILE_NAME = 'profile.json';

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
  return stripForbiddenCharacters(`p2p-comm on ${hostName}`);
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
