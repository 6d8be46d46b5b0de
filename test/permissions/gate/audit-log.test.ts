import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { AUDIT_FILE_NAME, AuditLog } from '../../../permissions/gate/audit-log';
import { tempDir } from '../../helpers/extension';

const ENTRY = { plugin: 'agent-a', extension: 'p2p-comm', operation: 'send', layer: 'scope', decision: 'allow', detail: 'remembered' } as const;

t.test('appends one line per decision, owner-only, read back in order', async (t) => {
  const dir = tempDir(t);
  const log = AuditLog.open(dir);
  t.same(log.read(), []);
  const before = Date.now();
  log.record(ENTRY);
  log.record({ ...ENTRY, layer: 'risk', decision: 'deny', detail: null });
  t.equal(statSync(join(dir, AUDIT_FILE_NAME)).mode & 0o777, 0o600);
  const entries = AuditLog.open(dir).read();
  t.match(entries, [
    { ...ENTRY, time: String },
    { ...ENTRY, layer: 'risk', decision: 'deny', detail: null },
  ]);
  const time = Date.parse(entries[0]?.time ?? '');
  t.ok(time >= before && time <= Date.now(), 'stamped with the current time');
});

t.test('a line break in a value cannot forge a second entry', async (t) => {
  const log = AuditLog.open(tempDir(t));
  log.record({ ...ENTRY, operation: 'send\n{"decision":"allowed"}', detail: 'a\nb' });
  const entries = log.read();
  t.equal(entries.length, 1);
  t.equal(entries[0]?.operation, 'send\n{"decision":"allowed"}');
});

t.test('a damaged line is reported with its number', async (t) => {
  const dir = tempDir(t);
  const log = AuditLog.open(dir);
  log.record(ENTRY);
  appendFileSync(join(dir, AUDIT_FILE_NAME), '{"time": \n');
  t.throws(() => log.read(), { message: `audit log ${join(dir, AUDIT_FILE_NAME)} line 2 is not valid JSON` });
});

t.test('unsafe characters are escaped in the file and in the CLI output, and read back unchanged', async (t) => {
  const dir = tempDir(t);
  const hostile = 'st\u202eatus\u009b2J\u2028x\u001b[31m';
  AuditLog.open(dir).record({ ...ENTRY, operation: hostile, detail: `scope 'peer' = '${hostile}'` });
  const raw = readFileSync(join(dir, AUDIT_FILE_NAME), 'utf8');
  t.notMatch(raw.trimEnd(), /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/u, 'nothing in the file acts on a terminal');
  t.equal(AuditLog.open(dir).read()[0]?.operation, hostile, 'the value itself is kept');
  const printed = execFileSync(process.execPath, [join(__dirname, '..', '..', '..', 'dist', 'p2p-comm-host'), 'audit', '--host-dir', dir], { encoding: 'utf8' });
  t.match(printed, '"operation":"st\\u202eatus\\u009b2J\\u2028x\\u001b[31m"');
  t.notMatch(printed.trimEnd(), /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/u);
});
