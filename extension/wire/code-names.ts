/** The lower-case name of a code in a `{NAME: number}` table, as counters, events and docs spell it. */
export function codeName(table: Readonly<Record<string, number>>, code: number): string {
  const entry = Object.entries(table).find(([, value]) => value === code);
  return (entry?.[0] ?? 'unknown').toLowerCase();
}

/** Whether `code` is one of the table's values. */
export function isCode<T extends Readonly<Record<string, number>>>(table: T, code: number): code is T[keyof T] {
  return Object.values(table).includes(code);
}
