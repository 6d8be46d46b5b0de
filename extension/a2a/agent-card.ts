import { P2pError } from '../common/errors';
import { validateDisplayName } from '../common/display-name';
import { firstJsonProblem, jsonProblemText } from '../common/json-value';
import { quoteUntrusted } from '../common/quote-text';

/**
 * A node's A2A agent card (A2A v1.0 `AgentCard`), as p2p-comm keeps, signs
 * and shows it: the fields that describe the agent, normalized into the one
 * form the A2A SDK's canonicalization (`canonicalizeAgentCard`) produces
 * too, so that both sign and verify the same bytes.
 *
 * Kept: name, description, version, provider {organization, url},
 * documentationUrl, iconUrl, capabilities {streaming, extensions[]},
 * defaultInputModes, defaultOutputModes, skills[] {id, name, description,
 * tags, examples, inputModes, outputModes}. Everything else is dropped,
 * the way A2A's ProtoJSON drops unknown fields: the interfaces, security
 * schemes and signatures a plugin's card may carry describe its own local
 * endpoint (p2p-comm adds its own interface and signature), and push
 * notifications and the extended card are not carried between nodes.
 *
 * Then, as the SDK does: empty strings, lists and objects and nulls are
 * dropped at every level, and an extension's `required: false` (the
 * protobuf default). `capabilities.streaming` is always written, false when
 * absent. What A2A requires must then be there and non-empty, and every
 * text must follow the rules below (the card is a stranger's text to
 * whoever reads it); a refusal names the field.
 */
export interface AgentCardLimits {
  /** UTF-8 bytes of the signed card as it travels (docs/protocol.md §15); the one limit a node's user may change. */
  maxCardBytes: number;
  /** Characters of the card's and each skill's description. */
  maxDescriptionLength: number;
  maxSkills: number;
  /** Tags per skill, and characters per tag. */
  maxTags: number;
  maxTagLength: number;
  /** Examples per skill, and characters per example. */
  maxExamples: number;
  maxExampleLength: number;
  /** Characters of a version, a skill id or name, a mode, a provider's organization, an extension's description. */
  maxShortTextLength: number;
  /** Characters of a URL or an extension URI. */
  maxUrlLength: number;
  /** Input or output modes in one list. */
  maxModes: number;
  maxExtensions: number;
  /** How deep an extension's `params` may nest (arrays and objects). */
  maxParamsDepth: number;
}

export const DEFAULT_AGENT_CARD_LIMITS: AgentCardLimits = {
  maxCardBytes: 16 * 1024,
  maxDescriptionLength: 2000,
  maxSkills: 32,
  maxTags: 16,
  maxTagLength: 64,
  maxExamples: 8,
  maxExampleLength: 500,
  maxShortTextLength: 128,
  maxUrlLength: 2048,
  maxModes: 16,
  maxExtensions: 16,
  maxParamsDepth: 8,
};

/** The largest card a node may be configured to accept (P2P_COMM_AGENT_CARD_MAX_BYTES). */
export const MAX_CARD_BYTES_LIMIT = 64 * 1024;

export interface AgentSkill {
  id: string;
  name: string;
  description: string;
  tags: string[];
  examples?: string[];
  inputModes?: string[];
  outputModes?: string[];
}

export interface AgentExtension {
  uri: string;
  description?: string;
  required?: true;
  params?: Record<string, unknown>;
}

/** A normalized card, unsigned and without interfaces: what a2a_set_card keeps. */
export interface AgentCard {
  name: string;
  description: string;
  version: string;
  provider?: { organization: string; url: string };
  documentationUrl?: string;
  iconUrl?: string;
  capabilities: { streaming: boolean; extensions?: AgentExtension[] };
  defaultInputModes: string[];
  defaultOutputModes: string[];
  skills: AgentSkill[];
}

/** Dropped fields around the card's own can nest too (security schemes): a bound on all of it before any recursion. */
const FIXED_DEPTH_ABOVE_PARAMS = 8;

/** How deep any card JSON may nest, dropped fields included. */
export function maxCardDepth(limits: AgentCardLimits): number {
  return FIXED_DEPTH_ABOVE_PARAMS + limits.maxParamsDepth;
}

/** Throws INVALID_INPUT naming the field. The input is any A2A v1.0 card JSON (an SDK sample card, say). */
export function normalizeAgentCard(input: unknown, limits: AgentCardLimits = DEFAULT_AGENT_CARD_LIMITS): AgentCard {
  const problem = firstJsonProblem(input, maxCardDepth(limits));
  if (problem !== null) {
    throw refusal(problem.path, problem.rule, `${fieldName(problem.path)} ${jsonProblemText(problem.rule, maxCardDepth(limits))}`);
  }
  const card = objectAt(withoutEmpty(input) ?? {}, '');
  const rules = new TextRules(limits);
  const capabilities = optionalObject(card, '/capabilities') ?? {};
  const extensions = optionalList(capabilities, '/capabilities/extensions', limits.maxExtensions, (value, path) => extensionAt(value, path, rules, limits));
  const streaming = capabilities['streaming'] ?? false;
  if (typeof streaming !== 'boolean') throw refusal('/capabilities/streaming', 'type', `${fieldName('/capabilities/streaming')} must be true or false`);
  const provider = optionalObject(card, '/provider');
  return withoutUndefined({
    name: rules.name(card['name'], '/name'),
    description: rules.text(card['description'], '/description', limits.maxDescriptionLength, 'paragraph'),
    version: rules.text(card['version'], '/version', limits.maxShortTextLength, 'line'),
    provider:
      provider === undefined
        ? undefined
        : {
            organization: rules.text(provider['organization'], '/provider/organization', limits.maxShortTextLength, 'line'),
            url: rules.url(provider['url'], '/provider/url'),
          },
    documentationUrl: card['documentationUrl'] === undefined ? undefined : rules.url(card['documentationUrl'], '/documentationUrl'),
    iconUrl: card['iconUrl'] === undefined ? undefined : rules.url(card['iconUrl'], '/iconUrl'),
    capabilities: withoutUndefined({ streaming, extensions }),
    defaultInputModes: rules.modes(card, '/defaultInputModes', true) as string[],
    defaultOutputModes: rules.modes(card, '/defaultOutputModes', true) as string[],
    skills: requiredList(card, '/skills', limits.maxSkills, (value, path) => skillAt(value, path, rules, limits)),
  }) as AgentCard;
}

function skillAt(value: unknown, path: string, rules: TextRules, limits: AgentCardLimits): AgentSkill {
  const skill = objectAt(value, path);
  return withoutUndefined({
    id: rules.text(skill['id'], `${path}/id`, limits.maxShortTextLength, 'token'),
    name: rules.text(skill['name'], `${path}/name`, limits.maxShortTextLength, 'line'),
    description: rules.text(skill['description'], `${path}/description`, limits.maxDescriptionLength, 'paragraph'),
    tags: requiredList(skill, `${path}/tags`, limits.maxTags, (tag, at) => rules.text(tag, at, limits.maxTagLength, 'line')),
    examples: optionalList(skill, `${path}/examples`, limits.maxExamples, (example, at) => rules.text(example, at, limits.maxExampleLength, 'paragraph')),
    inputModes: rules.modes(skill, `${path}/inputModes`, false),
    outputModes: rules.modes(skill, `${path}/outputModes`, false),
  }) as AgentSkill;
}

function extensionAt(value: unknown, path: string, rules: TextRules, limits: AgentCardLimits): AgentExtension {
  const extension = objectAt(value, path);
  const required = extension['required'] ?? false;
  if (typeof required !== 'boolean') throw refusal(`${path}/required`, 'type', `${fieldName(`${path}/required`)} must be true or false`);
  const params = optionalObject(extension, `${path}/params`);
  if (params !== undefined) checkParams(params, `${path}/params`, limits.maxParamsDepth);
  return withoutUndefined({
    uri: rules.text(extension['uri'], `${path}/uri`, limits.maxUrlLength, 'token'),
    description: extension['description'] === undefined ? undefined : rules.text(extension['description'], `${path}/description`, limits.maxShortTextLength, 'line'),
    // false is the protobuf default, which A2A's JSON form leaves out.
    required: required ? true : undefined,
    params,
  }) as AgentExtension;
}

/**
 * `params` is free JSON, kept as given. A member named `__proto__` would be
 * read back as the object's prototype by every JavaScript implementation
 * that copies the card, so two of them would sign different payloads.
 */
function checkParams(params: Record<string, unknown>, path: string, maxDepth: number): void {
  if (firstJsonProblem(params, maxDepth) !== null) throw refusal(path, 'max_depth', `${fieldName(path)} may nest at most ${maxDepth} arrays and objects deep`);
  const members = (value: unknown, at: string): void => {
    if (typeof value !== 'object' || value === null) return;
    for (const [key, child] of Object.entries(value)) {
      if (key === '__proto__') throw refusal(`${at}/${key}`, 'reserved_name', `${fieldName(path)} may not have a member named "__proto__"`);
      members(child, `${at}/${key}`);
    }
  };
  members(params, path);
}

type TextKind = 'line' | 'paragraph' | 'token';

/** C0 and C1 controls, DEL; a paragraph may break lines with \n. */
const CONTROL = /\p{Cc}/u;
const CONTROL_BUT_NEWLINE = /[^\P{Cc}\n]/u;
const WHITESPACE_OR_CONTROL = /[\s\p{Cc}]/u;

class TextRules {
  constructor(private readonly limits: AgentCardLimits) {}

  /** The agent's name follows the display-name rules: 1-64 characters, nothing that could disguise it. */
  name(value: unknown, path: string): string {
    const text = this.present(value, path);
    try {
      return validateDisplayName(text);
    } catch (error) {
      throw refusal(path, 'display_name', `${fieldName(path)}: ${(error as Error).message.replace('a display name', 'the agent name')}`);
    }
  }

  text(value: unknown, path: string, maxLength: number, kind: TextKind): string {
    const text = this.present(value, path);
    const length = [...text].length;
    if (length > maxLength) throw refusal(path, 'max_length', `${fieldName(path)} may hold at most ${maxLength} characters, it has ${length}`);
    const forbidden = kind === 'paragraph' ? CONTROL_BUT_NEWLINE : kind === 'line' ? CONTROL : WHITESPACE_OR_CONTROL;
    const found = forbidden.exec(text);
    if (found !== null) {
      const allowed = kind === 'paragraph' ? ' (only line breaks, \\n, are allowed)' : kind === 'token' ? ' or whitespace' : '';
      throw refusal(path, 'characters', `${fieldName(path)} may not hold control characters${allowed}; it holds U+${codePoint(found[0])}`);
    }
    return text;
  }

  /** An absolute http or https URL. */
  url(value: unknown, path: string): string {
    const text = this.text(value, path, this.limits.maxUrlLength, 'token');
    const scheme = URL.canParse(text) ? new URL(text).protocol : null;
    if (scheme !== 'https:' && scheme !== 'http:') throw refusal(path, 'url', `${fieldName(path)} must be an absolute http or https URL, got ${quoteUntrusted(text)}`);
    return text;
  }

  /** Media types such as `text/plain`; a card's default lists must hold one at least, a skill's may be absent. */
  modes(holder: Record<string, unknown>, path: string, required: boolean): string[] | undefined {
    const read = (mode: unknown, at: string): string => this.text(mode, at, this.limits.maxShortTextLength, 'token');
    return required ? requiredList(holder, path, this.limits.maxModes, read) : optionalList(holder, path, this.limits.maxModes, read);
  }

  private present(value: unknown, path: string): string {
    if (value === undefined) throw refusal(path, 'required', `${fieldName(path)} is required and may not be empty`);
    if (typeof value !== 'string') throw refusal(path, 'type', `${fieldName(path)} must be a string`);
    return value;
  }
}

function requiredList<T>(holder: Record<string, unknown>, path: string, max: number, read: (value: unknown, path: string) => T): T[] {
  const list = optionalList(holder, path, max, read);
  if (list === undefined) throw refusal(path, 'required', `${fieldName(path)} must hold at least one entry (A2A requires it)`);
  return list;
}

function optionalList<T>(holder: Record<string, unknown>, path: string, max: number, read: (value: unknown, path: string) => T): T[] | undefined {
  const value = holder[keyOf(path)];
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw refusal(path, 'type', `${fieldName(path)} must be a list`);
  if (value.length > max) throw refusal(path, 'max_items', `${fieldName(path)} may hold at most ${max} entries, it has ${value.length}`);
  return value.map((item, index) => read(item, `${path}/${index}`));
}

function optionalObject(holder: Record<string, unknown>, path: string): Record<string, unknown> | undefined {
  const value = holder[keyOf(path)];
  return value === undefined ? undefined : objectAt(value, path);
}

function objectAt(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refusal(path, 'type', `${fieldName(path)} must be an object`);
  return value as Record<string, unknown>;
}

/**
 * The value with every "", null, [] and {} left out, at any depth (an
 * object or list that only held such values goes too): undefined when
 * nothing is left. What the SDK's `cleanEmpty` does before it signs.
 */
export function withoutEmpty(value: unknown): unknown {
  if (value === '' || value === null || value === undefined) return undefined;
  if (Array.isArray(value)) {
    const items = value.map(withoutEmpty).filter((item) => item !== undefined);
    return items.length === 0 ? undefined : items;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value).flatMap(([key, child]) => {
      const kept = withoutEmpty(child);
      return kept === undefined ? [] : [[key, kept] as const];
    });
    return entries.length === 0 ? undefined : Object.fromEntries(entries);
  }
  return value;
}

function withoutUndefined<T extends Record<string, unknown>>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as T;
}

/** The last key of a path: where its value sits in the object holding it. */
function keyOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `/skills/0/tags` as `card.skills[0].tags`. */
function fieldName(path: string): string {
  return `card${path.split('/').slice(1).map((key) => (/^[0-9]+$/.test(key) ? `[${key}]` : `.${key}`)).join('')}`;
}

function refusal(path: string, rule: string, message: string): P2pError {
  return new P2pError('INVALID_INPUT', `agent card: ${message}`, { path: `/card${path}`, rule });
}

function codePoint(character: string): string {
  return (character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
}
