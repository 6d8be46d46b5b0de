import type { OperationOutcome } from '../../host/protocol';
import type { NodeContext } from '../context';

/** One row as Nexus renders it: the properties of the type's schema in manifest.json, `id` first. */
export type ResourceRow = Record<string, unknown> & { id: string };

export type ChangeVerb = 'create' | 'update' | 'delete';

/**
 * What serves one resource type. Its `data` arrives checked against the
 * manifest's schema; a verb left out is one the manifest's capabilities
 * turn off, and `unavailable` tells the person what to do instead.
 */
export interface ResourceType {
  rows(node: NodeContext): ResourceRow[];
  row(id: string, node: NodeContext): ResourceRow | undefined;
  create?(data: Record<string, unknown>, node: NodeContext): Promise<OperationOutcome>;
  update?(id: string, data: Record<string, unknown>, node: NodeContext): Promise<OperationOutcome>;
  delete?(id: string, node: NodeContext): Promise<OperationOutcome>;
  unavailable: Partial<Record<ChangeVerb, string>>;
}
