import { P2pError } from '../../common/errors';
import type { ResourceTypeDefinition } from '../../common/manifest';
import type { OperationOutcome } from '../../host/protocol';
import type { NodeContext } from '../context';
import { listPage } from './paging';
import { peerResource } from './peer-resource';
import { requestResource } from './request-resource';
import { DEFAULT_RESOURCE_LIMITS, RESOURCE_VERBS, ResourceParams, type ResourceLimits, type ResourceVerb } from './resource-params';
import type { ChangeVerb, ResourceType } from './resource-type';

export const RESOURCE_TYPES: Readonly<Record<string, ResourceType>> = {
  peers: peerResource,
  requests: requestResource,
};

const CHANGE_VERBS: readonly ChangeVerb[] = ['create', 'update', 'delete'];

function isVerb(verb: string): verb is ResourceVerb {
  return (RESOURCE_VERBS as readonly string[]).includes(verb);
}

/**
 * Serves Nexus's `resources.<verb>` calls for the resource types declared
 * in manifest.json. These come from the person at the Nexus window (a
 * plugin cannot name them), so a create, update or delete is that person's
 * own decision. Refuses to start unless every declared type has a handler,
 * every handler is declared, and the declared capabilities are exactly the
 * verbs each handler serves.
 */
export class ResourceRegistry {
  private readonly params: ResourceParams;

  constructor(
    private readonly definitions: Readonly<Record<string, ResourceTypeDefinition>>,
    private readonly types: Readonly<Record<string, ResourceType>> = RESOURCE_TYPES,
    limits: ResourceLimits = DEFAULT_RESOURCE_LIMITS,
  ) {
    this.params = new ResourceParams(definitions, limits);
    for (const name of Object.keys(definitions)) {
      const handler = types[name];
      if (handler === undefined) throw new Error(`manifest declares resource type "${name}" but no handler exists`);
      for (const verb of CHANGE_VERBS) {
        const declared = definitions[name]?.capabilities?.[verb] !== false;
        if (declared !== (handler[verb] !== undefined)) {
          throw new Error(`resource type "${name}": the manifest ${declared ? 'offers' : 'turns off'} ${verb}, its handler does not agree`);
        }
      }
    }
    const undeclared = Object.keys(types).filter((name) => !Object.hasOwn(definitions, name));
    if (undeclared.length > 0) throw new Error(`resource handlers without a manifest declaration: ${undeclared.join(', ')}`);
  }

  async serve(verb: string, rawParams: unknown, node: NodeContext): Promise<OperationOutcome> {
    if (!isVerb(verb)) {
      throw new P2pError('METHOD_NOT_FOUND', `unknown method "resources.${verb}"; p2p-comm serves resources.${RESOURCE_VERBS.join(', resources.')}`);
    }
    const typeName = this.params.resourceType(verb, rawParams);
    const type = this.types[typeName] as ResourceType;
    if (verb !== 'list' && verb !== 'get' && type[verb] === undefined) {
      const label = (this.definitions[typeName] as ResourceTypeDefinition).label;
      throw new P2pError('NOT_AVAILABLE', `${label}: ${verb} is not offered here; ${type.unavailable[verb] ?? 'see the manifest’s capabilities'}`);
    }
    const call = this.params.parse(verb, rawParams);
    switch (call.verb) {
      case 'list':
        return { data: listPage(type.rows(node), call.list), message: null };
      case 'get':
        return { data: this.existingRow(type, call.type, call.id, node), message: null };
      case 'create':
        return (type.create as NonNullable<ResourceType['create']>)(call.data, node);
      case 'update':
        return (type.update as NonNullable<ResourceType['update']>)(call.id, call.data, node);
      case 'delete':
        return (type.delete as NonNullable<ResourceType['delete']>)(call.id, node);
    }
  }

  private existingRow(type: ResourceType, typeName: string, id: string, node: NodeContext): Record<string, unknown> {
    const row = type.row(id, node);
    if (row === undefined) {
      const label = (this.definitions[typeName] as ResourceTypeDefinition).label;
      throw new P2pError('NOT_FOUND', `${label}: nothing with id ${id}; it may have been removed or answered: refresh the list`);
    }
    return row;
  }
}
