import Ajv, { type ValidateFunction } from 'ajv';
import { describeSchemaError } from '../../common/describe-schema-error';
import { P2pError } from '../../common/errors';
import { firstJsonProblem, jsonProblemText } from '../../common/json-value';
import type { ResourceRole, ResourceTypeDefinition } from '../../common/manifest';
import { quoteUntrusted } from '../../common/quote-text';
import { SORT_ORDERS, type ListRequest, type SortOrder } from './paging';

export const RESOURCE_VERBS = ['list', 'get', 'create', 'update', 'delete'] as const;
export type ResourceVerb = (typeof RESOURCE_VERBS)[number];

export interface ResourceLimits {
  /** Largest `page_size` a list accepts. */
  maxPageSize: number;
}

export const DEFAULT_RESOURCE_LIMITS: ResourceLimits = { maxPageSize: 1000 };

/** Nexus sends page numbers as u32. */
const MAX_PAGE = 4_294_967_295;

/** A resources.* call once its params are checked. */
export type ResourceCall =
  | { verb: 'list'; type: string; list: ListRequest }
  | { verb: 'get' | 'delete'; type: string; id: string }
  | { verb: 'create'; type: string; data: Record<string, unknown> }
  | { verb: 'update'; type: string; id: string; data: Record<string, unknown> };

type Properties = Record<string, Record<string, unknown>>;

const SCALAR_TYPES = new Set(['string', 'integer', 'number', 'boolean', 'null']);

/** ISO 8601 instants as Date.toISOString writes them. */
const DATE_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$/;

/**
 * Checks the params of every resources.* call against the resource types
 * declared in manifest.json. Nexus checks none of them (its UI is the only
 * caller, but the JSON-RPC path is open to anything that speaks it), so the
 * manifest's row schema is the one source for both what Nexus renders and
 * what is accepted: `data` may hold only declared properties, and those the
 * person edits must match their declared schema.
 */
export class ResourceParams {
  private readonly ajv: Ajv;
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly defaultSort = new Map<string, { sortBy: string; sortOrder: SortOrder }>();

  constructor(
    private readonly types: Readonly<Record<string, ResourceTypeDefinition>>,
    limits: ResourceLimits = DEFAULT_RESOURCE_LIMITS,
  ) {
    this.ajv = new Ajv({ strict: true, allErrors: false, verbose: true, allowUnionTypes: true, formats: { 'date-time': DATE_TIME } });
    // Nexus's UI reads these; they say nothing about validity.
    this.ajv.addKeyword('x-resource-role');
    this.ajv.addKeyword('x-display');
    for (const [type, definition] of Object.entries(types)) this.compileType(type, definition, limits);
  }

  typeNames(): string[] {
    return Object.keys(this.types);
  }

  /** The declared resource type the params name; refuses params that are not an object or name no declared type. */
  resourceType(verb: ResourceVerb, params: unknown): string {
    const method = `resources.${verb}`;
    if (typeof params !== 'object' || params === null || Array.isArray(params)) {
      throw new P2pError('INVALID_PARAMS', `${method} params must be an object`);
    }
    const type = (params as Record<string, unknown>)['resource_type'];
    if (typeof type !== 'string' || !Object.hasOwn(this.types, type)) {
      const given = typeof type === 'string' ? ` ${quoteUntrusted(type)}` : '';
      throw new P2pError(
        'INVALID_PARAMS',
        `${method}: unknown resource_type${given}; p2p-comm serves ${this.typeNames().map((name) => `"${name}"`).join(', ')}`,
      );
    }
    return type;
  }

  parse(verb: ResourceVerb, params: unknown): ResourceCall {
    const method = `resources.${verb}`;
    const type = this.resourceType(verb, params);
    const object = params as Record<string, unknown>;
    this.check(method, type, verb, object);
    switch (verb) {
      case 'list':
        return { verb, type, list: this.listRequest(type, object) };
      case 'get':
      case 'delete':
        return { verb, type, id: object['id'] as string };
      case 'create':
        return { verb, type, data: object['data'] as Record<string, unknown> };
      case 'update':
        return { verb, type, id: object['id'] as string, data: object['data'] as Record<string, unknown> };
    }
  }

  private listRequest(type: string, params: Record<string, unknown>): ListRequest {
    const fallback = this.defaultSort.get(type) as { sortBy: string; sortOrder: SortOrder };
    return {
      page: (params['page'] as number | undefined) ?? 1,
      pageSize: (params['page_size'] as number | undefined) ?? null,
      sortBy: (params['sort_by'] as string | undefined) ?? fallback.sortBy,
      sortOrder: (params['sort_order'] as SortOrder | undefined) ?? fallback.sortOrder,
    };
  }

  private check(method: string, type: string, verb: ResourceVerb, params: Record<string, unknown>): void {
    const validate = this.validators.get(`${type}/${verb}`) as ValidateFunction;
    if (!validate(params)) {
      const error = (validate.errors ?? [])[0];
      const reason = error === undefined ? 'do not match their schema' : describeSchemaError(error, this.placeOf(type, error.instancePath));
      const inData = error?.instancePath.startsWith('/data') === true;
      throw new P2pError(inData ? 'INVALID_INPUT' : 'INVALID_PARAMS', `${method}: ${reason}`, {
        path: error?.instancePath ?? '',
        rule: error?.keyword ?? 'schema',
      });
    }
    const problem = firstJsonProblem(params);
    if (problem !== null) {
      throw new P2pError(
        'INVALID_INPUT',
        `${method}: ${this.placeOf(type, problem.path)} ${jsonProblemText(problem.rule, Number.POSITIVE_INFINITY)}`,
        { path: problem.path, rule: problem.rule },
      );
    }
  }

  /**
   * Where a schema error is, for the person at the form (Nexus shows only
   * the message): a row field by its label as the form shows it, then its
   * place in the params.
   */
  private placeOf(type: string, instancePath: string): string {
    const place = instancePath === '' ? 'params' : `params${instancePath.replaceAll('/', '.')}`;
    const field = /^\/data\/([^/]+)/.exec(instancePath)?.[1];
    const properties = (this.types[type]?.schema['properties'] ?? {}) as Properties;
    const label = field !== undefined && Object.hasOwn(properties, field) ? (properties[field]?.['x-display'] as { label?: unknown } | undefined)?.label : undefined;
    return typeof label === 'string' ? `"${label}" (${place})` : place;
  }

  private compileType(type: string, definition: ResourceTypeDefinition, limits: ResourceLimits): void {
    const properties = (definition.schema['properties'] ?? {}) as Properties;
    const required = (definition.schema['required'] ?? []) as string[];
    const idSchema = properties['id'];
    if (idSchema?.['x-resource-role'] !== 'id') {
      // Nexus's UI addresses a row by its `id` field.
      throw new Error(`resource type "${type}" must declare an "id" property with x-resource-role "id"`);
    }
    const sortable = Object.keys(properties).filter((name) => isScalar(properties[name] as Record<string, unknown>));
    this.defaultSort.set(type, {
      sortBy: definition.list_view?.sort_by ?? 'id',
      sortOrder: (definition.list_view?.sort_order as SortOrder | undefined) ?? 'asc',
    });
    const envelope = (fields: Properties, requiredFields: string[]): Record<string, unknown> => ({
      type: 'object',
      properties: { resource_type: { const: type }, ...fields },
      required: ['resource_type', ...requiredFields],
    });
    const editable = pick(properties, 'editable');
    // `required` names what a new row needs; what an update needs is its handler's to say.
    const createRequired = required.filter((name) => Object.hasOwn(editable, name));
    const schemas: Record<ResourceVerb, Record<string, unknown>> = {
      list: envelope(
        {
          page: { type: 'integer', minimum: 1, maximum: MAX_PAGE },
          page_size: { type: 'integer', minimum: 1, maximum: limits.maxPageSize },
          sort_by: { enum: sortable },
          sort_order: { enum: SORT_ORDERS },
        },
        [],
      ),
      get: envelope({ id: idSchema }, ['id']),
      delete: envelope({ id: idSchema }, ['id']),
      // A new row has only what the person typed.
      create: envelope(
        { data: { type: 'object', properties: editable, required: createRequired, additionalProperties: false } },
        ['data'],
      ),
      // Nexus's edit form sends the whole row back with the edited fields: the
      // row's other fields are accepted, if they are what a row holds.
      update: envelope(
        { id: idSchema, data: { type: 'object', properties, additionalProperties: false } },
        ['id', 'data'],
      ),
    };
    for (const verb of RESOURCE_VERBS) this.validators.set(`${type}/${verb}`, this.ajv.compile(schemas[verb]));
  }
}

function pick(properties: Properties, role: ResourceRole): Properties {
  return Object.fromEntries(Object.entries(properties).filter(([, schema]) => schema['x-resource-role'] === role));
}

/** A column a list can sort by: strings, numbers and booleans, maybe null. */
function isScalar(schema: Record<string, unknown>): boolean {
  const types = Array.isArray(schema['type']) ? (schema['type'] as string[]) : [schema['type'] as string];
  return types.every((type) => SCALAR_TYPES.has(type));
}


