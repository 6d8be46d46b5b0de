import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { P2pError } from './errors';
import { describeSchemaError } from './describe-schema-error';
import { readFileIfExists, writeFileAtomic } from './atomic-file';

/**
 * Trust and pairing state is only ever loaded whole and valid. A damaged
 * file stops p2p-comm with a message naming the file and the first problem,
 * because carrying on with an empty store would silently forget whom the
 * user trusts; the user decides whether to repair the file or move it away.
 * The same rules are applied before every write, so p2p-comm never writes a
 * file it would refuse to load.
 */
export interface StateFileRules<T> {
  /** e.g. "the trust store" */
  name: string;
  /** What moving the file away costs, e.g. "start with no paired peers". */
  movingAwayMeans: string;
  schema: Record<string, unknown>;
  /** Rules a schema cannot say: returns the problem, or undefined when the value is fine. */
  check?: (value: T) => string | undefined;
  /**
   * Brings what an earlier p2p-comm wrote in line with today's rules before
   * they are checked: changes the parsed value in place and returns one
   * sentence per change (none when there was nothing to do). Whatever it
   * leaves wrong is refused as corrupt, like any other damage.
   */
  upgrade?: (value: unknown) => string[];
}

/** How state files write a point in time: Date.toISOString(), so always a valid date. */
export const TIME_SCHEMA = {
  type: 'string',
  pattern: '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\\.[0-9]{3}Z$',
};

/** An Ed25519 public key, canonical base64 of 32 bytes. */
export const PUBLIC_KEY_SCHEMA = { type: 'string', pattern: '^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$' };

/** `host:port`, `[ipv6]:port`, or `dht:<DHT public key in hex>` (a node reached through the DHT). */
export const ADDRESS_SCHEMA = {
  type: 'string',
  maxLength: 300,
  pattern: '^((\\[[0-9A-Za-z:.%]+\\]|[0-9A-Za-z._-]+):[0-9]{1,5}|dht:[0-9a-f]{64})$',
};

/** `dht:<DHT public key in hex>` alone. */
export const DHT_ADDRESS_SCHEMA = { type: 'string', pattern: '^dht:[0-9a-f]{64}$' };

/** An object with exactly these fields, all required unless `required` names fewer. */
export function closedObject(properties: Record<string, unknown>, required: readonly string[] = Object.keys(properties)): Record<string, unknown> {
  return { type: 'object', properties, required: [...required], additionalProperties: false };
}

/** The same rules, or null. */
export function nullable(schema: { type: string }): Record<string, unknown> {
  return { ...schema, type: [schema.type, 'null'] };
}

// allErrors off: the first error is what the message names.
const ajv = new Ajv({ strict: true, allErrors: false, allowUnionTypes: true });

export class StateFileFormat<T> {
  private readonly validate: ValidateFunction<T>;

  /** Construct once per module: the schema is compiled here. */
  constructor(private readonly rules: StateFileRules<T>) {
    this.validate = ajv.compile<T>(rules.schema);
  }

  /**
   * The file's content, or undefined when it does not exist. A file the
   * `upgrade` rule changed is written back at once and each change is passed
   * to `onUpgrade`, so that the user hears of it once; a corrupt file is
   * left as it is.
   */
  load(path: string, onUpgrade: (note: string) => void = () => undefined): T | undefined {
    const content = readFileIfExists(path);
    if (content === undefined) return undefined;
    let value: unknown;
    try {
      value = JSON.parse(content.toString('utf8'));
    } catch {
      throw this.corrupt(path, 'it is not valid JSON');
    }
    const changes = this.rules.upgrade?.(value) ?? [];
    const problem = this.problemWith(value);
    if (problem !== undefined) throw this.corrupt(path, problem);
    if (changes.length > 0) {
      this.save(path, value as T);
      for (const change of changes) onUpgrade(`${this.rules.name} ${path}: ${change}; the file was rewritten`);
    }
    return value as T;
  }

  /**
   * Refuses a value that breaks the rules (a caller passed something the
   * file cannot hold); pretty-printed so that a person can repair the file.
   */
  save(path: string, value: T): void {
    const problem = this.problemWith(value);
    if (problem !== undefined) {
      throw new P2pError('INVALID_INPUT', `refusing to write ${this.rules.name} ${path}: ${problem}`);
    }
    writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, 0o600);
  }

  private problemWith(value: unknown): string | undefined {
    if (!this.validate(value)) return describeFirstError(this.validate.errors?.[0]);
    return this.rules.check?.(value);
  }

  private corrupt(path: string, problem: string): P2pError {
    return new P2pError(
      'STATE_FILE_CORRUPT',
      `${this.rules.name} ${path} is corrupt: ${problem}. p2p-comm never resets it silently: ` +
        `fix the file, or move it away to ${this.rules.movingAwayMeans}`,
    );
  }
}

/**
 * The rules of one part of a state file (one record), so that a change to
 * that part is checked when it is made, without checking the whole file;
 * returns the first problem, or undefined when the part is fine.
 */
export function partChecker(schema: Record<string, unknown>): (value: unknown) => string | undefined {
  const validate = ajv.compile(schema);
  return (value) => (validate(value) ? undefined : describeFirstError(validate.errors?.[0]));
}

function describeFirstError(error: ErrorObject | undefined): string {
  if (error === undefined) return 'it does not match its schema';
  return describeSchemaError(error, error.instancePath === '' ? 'the top level' : error.instancePath);
}
