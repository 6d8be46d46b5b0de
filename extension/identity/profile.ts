import { join } from 'node:path';
import { P2pError } from '../common/errors';
import { isLegacyDisplayName, isValidDisplayName, stripForbiddenCharacters, validateDisplayName } from '../common/display-name';
import { readFileIfExists, writeFileAtomic } from '../common/atomic-file';
import { defaultDisplayName, machineNames, type PickIndex } from './default-name';

/**
 * The name other people see for this node (the rule is common/display-name.ts).
 *
 * File `<data_dir>/profile.json`, mode 0600: `{"version":1,"display_name":"..."}`.
 * At first start the node picks a default name (default-name.ts) and writes
 * it here, so that the name stays the same across restarts.
 */
export const PROFILE_FILE_NAME = 'profile.json';

export interface ProfileOptions {
  /** Feeds the default name only (default: this machine's); an option so that tests can pass an awkward one. */
  hostName?: string;
  /** Removed from the host name in the default name (default: the OS user's; null: none known). */
  userName?: string | null;
  /** Draws the default name's words; an option so that tests can choose them. */
  pick?: PickIndex;
}

export class Profile {
  private constructor(
    private readonly path: string,
    private name: string,
    /** True when this start chose the default name: the node's first start. */
    readonly namedAtThisStart: boolean,
    /** What opening changed in a profile an earlier p2p-comm wrote (already written back), for the log. */
    readonly upgradeNotes: readonly string[],
  ) {}

  static open(dataDir: string, options: ProfileOptions = {}): Profile {
    const path = join(dataDir, PROFILE_FILE_NAME);
    const content = readFileIfExists(path);
    const defaultName = (): string => {
      const machine = machineNames();
      const userName = options.userName === undefined ? machine.userName : options.userName;
      return defaultDisplayName({ hostName: options.hostName ?? machine.hostName, userName }, options.pick);
    };
    if (content === undefined) {
      const name = defaultName();
      writeProfile(path, name);
      return new Profile(path, name, true, []);
    }
    const stored = parseProfile(path, content);
    if (!isLegacyDisplayName(stored)) return new Profile(path, stored, false, []);
    // An earlier build allowed this name; the user chose it, so it is kept as far as the rule allows.
    const cleaned = stripForbiddenCharacters(stored);
    const name = isValidDisplayName(cleaned) ? cleaned : defaultName();
    const note =
      `the display name in ${path} held zero-width, C1 control or other invisible characters the display-name rule now refuses; ` +
      `this node is now called "${name}" (the file was rewritten; set_display_name sets another)`;
    writeProfile(path, name);
    return new Profile(path, name, false, [note]);
  }

  get displayName(): string {
    return this.name;
  }

  setDisplayName(name: string): string {
    validateDisplayName(name);
    writeProfile(this.path, name);
    this.name = name;
    return name;
  }
}

function writeProfile(path: string, name: string): void {
  writeFileAtomic(path, `${JSON.stringify({ version: 1, display_name: name })}\n`, 0o600);
}

/** The stored name: one that follows the rule, or one the legacy rule allowed. */
function parseProfile(path: string, content: Buffer): string {
  const parsed = displayNameIn(content);
  if ('name' in parsed) return parsed.name;
  throw new P2pError(
    'STATE_FILE_CORRUPT',
    `the profile ${path} is corrupt: ${parsed.problem}. Fix it, or move it away to go back to a default display name`,
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
  if (isLegacyDisplayName(name)) return { name };
  try {
    return { name: validateDisplayName(name) };
  } catch (error) {
    return { problem: `its display_name is refused: ${(error as Error).message}` };
  }
}
