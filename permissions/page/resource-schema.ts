import type { ResourceTypeDefinition } from '../../extension/common/manifest';

/** What the web page reads from a resource type's schema, as Nexus reads it: roles, labels, which fields a form edits. */
export interface PropertySchema {
  type?: string | string[];
  enum?: unknown[];
  maxLength?: number;
  description?: string;
  'x-resource-role'?: 'id' | 'editable' | 'readonly';
  'x-display'?: { label?: string; input?: string; variant?: string; format?: string };
}

export function properties(definition: ResourceTypeDefinition): Record<string, PropertySchema> {
  return ((definition.schema as { properties?: Record<string, PropertySchema> }).properties ?? {}) as Record<string, PropertySchema>;
}

export function idProperty(definition: ResourceTypeDefinition): string {
  return Object.entries(properties(definition)).find(([, schema]) => schema['x-resource-role'] === 'id')?.[0] ?? 'id';
}

export function editableProperties(definition: ResourceTypeDefinition): string[] {
  return Object.entries(properties(definition))
    .filter(([, schema]) => schema['x-resource-role'] === 'editable')
    .map(([name]) => name);
}

export function label(props: Record<string, PropertySchema>, name: string): string {
  return props[name]?.['x-display']?.label ?? name;
}
