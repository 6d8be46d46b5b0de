/**
 * Sorting and paging of resource rows as Nexus asks for them: `page`
 * (numbered from 1), `page_size`, `sort_by` (a property of the row) and
 * `sort_order`. Rows are few (bounded by the trust store and the pending
 * requests), so each list sorts them all in memory.
 */

export type SortOrder = 'asc' | 'desc';

export const SORT_ORDERS: readonly SortOrder[] = ['asc', 'desc'];

export interface ListRequest {
  /** 1-based. */
  page: number;
  /** null: one page holds every row. */
  pageSize: number | null;
  sortBy: string;
  sortOrder: SortOrder;
}

export interface ListPage<Row> {
  items: Row[];
  /** Rows in all pages: Nexus's UI shows this count. */
  total: number;
  page: number;
  page_size: number;
}

/** The row's `id`, so that equal cells still sort the same way on every call and no row moves between pages. */
const ID_KEY = 'id';

const collator = new Intl.Collator('en', { sensitivity: 'base', numeric: true });

/**
 * Orders two cells of one column: null (no value) after every value in
 * both orders, since an empty cell is never what a person sorts for.
 */
function compareValues(a: unknown, b: unknown): number {
  if (typeof a === 'string' && typeof b === 'string') return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  return 0;
}

function isAbsent(value: unknown): boolean {
  return value === null || value === undefined;
}

export function compareRows(a: Record<string, unknown>, b: Record<string, unknown>, sortBy: string, order: SortOrder): number {
  const left = a[sortBy];
  const right = b[sortBy];
  if (isAbsent(left) !== isAbsent(right)) return isAbsent(left) ? 1 : -1;
  const byColumn = compareValues(left, right) * (order === 'asc' ? 1 : -1);
  if (byColumn !== 0) return byColumn;
  return compareValues(a[ID_KEY], b[ID_KEY]);
}

export function listPage<Row extends Record<string, unknown>>(rows: readonly Row[], request: ListRequest): ListPage<Row> {
  const sorted = [...rows].sort((a, b) => compareRows(a, b, request.sortBy, request.sortOrder));
  const pageSize = request.pageSize ?? Math.max(sorted.length, 1);
  const start = (request.page - 1) * pageSize;
  return { items: sorted.slice(start, start + pageSize), total: sorted.length, page: request.page, page_size: pageSize };
}
