import t from 'tap';
import { listPage } from '../../../extension/operations/resources/paging';

const rows = [
  { id: 'c', name: 'bob', seen: '2026-01-03T00:00:00.000Z', online: true, attempts: 10 },
  { id: 'a', name: 'Alice', seen: null, online: false, attempts: 2 },
  { id: 'b', name: 'alice', seen: '2026-01-01T00:00:00.000Z', online: true, attempts: null },
  { id: 'd', name: 'carol', seen: '2026-01-02T00:00:00.000Z', online: false, attempts: 9 },
];

const ids = (page: { items: { id: string }[] }) => page.items.map((row) => row.id);

t.test('without page_size one page holds every row', async (t) => {
  const page = listPage(rows, { page: 1, pageSize: null, sortBy: 'id', sortOrder: 'asc' });
  t.same(ids(page), ['a', 'b', 'c', 'd']);
  t.match(page, { total: 4, page: 1, page_size: 4 });
  t.same(listPage([], { page: 1, pageSize: null, sortBy: 'id', sortOrder: 'asc' }), { items: [], total: 0, page: 1, page_size: 1 });
});

t.test('pages are numbered from 1; a page past the end is empty but still counts every row', async (t) => {
  const request = { pageSize: 3, sortBy: 'id', sortOrder: 'asc' as const };
  t.same(ids(listPage(rows, { ...request, page: 1 })), ['a', 'b', 'c']);
  t.same(ids(listPage(rows, { ...request, page: 2 })), ['d']);
  t.match(listPage(rows, { ...request, page: 3 }), { items: [], total: 4, page: 3, page_size: 3 });
});

t.test('strings sort without regard to case first, in both orders', async (t) => {
  t.same(ids(listPage(rows, { page: 1, pageSize: null, sortBy: 'name', sortOrder: 'asc' })), ['a', 'b', 'c', 'd']);
  t.same(ids(listPage(rows, { page: 1, pageSize: null, sortBy: 'name', sortOrder: 'desc' })), ['d', 'c', 'b', 'a']);
});

t.test('times, numbers and booleans sort by value; null comes last in both orders', async (t) => {
  t.same(ids(listPage(rows, { page: 1, pageSize: null, sortBy: 'seen', sortOrder: 'asc' })), ['b', 'd', 'c', 'a']);
  t.same(ids(listPage(rows, { page: 1, pageSize: null, sortBy: 'seen', sortOrder: 'desc' })), ['c', 'd', 'b', 'a']);
  t.same(ids(listPage(rows, { page: 1, pageSize: null, sortBy: 'attempts', sortOrder: 'asc' })), ['a', 'd', 'c', 'b'], '9 before 10');
  t.same(ids(listPage(rows, { page: 1, pageSize: null, sortBy: 'attempts', sortOrder: 'desc' })), ['c', 'd', 'a', 'b']);
  t.same(ids(listPage(rows, { page: 1, pageSize: null, sortBy: 'online', sortOrder: 'desc' })), ['b', 'c', 'a', 'd']);
});

t.test('paging through a sorted list visits every row once', async (t) => {
  const seen: string[] = [];
  for (let page = 1; page <= 4; page += 1) seen.push(...ids(listPage(rows, { page, pageSize: 1, sortBy: 'online', sortOrder: 'asc' })));
  t.same(seen, ['a', 'd', 'b', 'c']);
});
