import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import {
  checkFreeSpace,
  DEFAULT_FREE_SPACE_MARGIN_BYTES,
  FALLBACK_INCOMING_NAME,
  type FileFolders,
  linkIntoIncoming,
  MAX_INCOMING_NAME_BYTES,
  numberedName,
  openOutgoingFile,
  partFilePath,
  prepareFileFolders,
  safeIncomingName,
  uploadFilePath,
} from '../../extension/files/file-folders';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import { tempDir } from '../helpers/extension';

const isPosix = process.platform !== 'win32';

function folders(t: Test): { dataDir: string; folders: FileFolders } {
  const dataDir = tempDir(t);
  return { dataDir, folders: prepareFileFolders(dataDir) };
}

async function refusal(t: Test, folders: FileFolders, relativePath: string, rule: RegExp, message: string): Promise<void> {
  await t.rejects(openOutgoingFile(folders, relativePath), { errorName: 'INVALID_INPUT', message: rule }, message);
}

t.test('the folders are created 0700, and the extension’s own ones are narrowed when found wider', async (t) => {
  const dataDir = tempDir(t);
  const previous = process.umask(0o022);
  let created: FileFolders;
  try {
    created = prepareFileFolders(dataDir);
  } finally {
    process.umask(previous);
  }
  for (const folder of [created.root, created.outgoing, created.incoming, created.partial, created.uploads]) {
    const stats = statSync(folder);
    t.ok(stats.isDirectory(), `${folder} is a folder`);
    t.equal(stats.mode & 0o777, 0o700, `${folder} is 0700`);
  }
  chmodSync(created.incoming, 0o755);
  chmodSync(created.outgoing, 0o750);
  prepareFileFolders(dataDir);
  t.equal(statSync(created.incoming).mode & 0o777, 0o700, 'incoming/ is narrowed again');
  t.equal(statSync(created.outgoing).mode & 0o777, 0o750, 'outgoing/ is the user’s: its mode is left alone');
});

t.test('a symbolic link where the extension keeps its own folder is refused; outgoing/ may be a link to the user’s folder', async (t) => {
  const dataDir = tempDir(t);
  const elsewhere = tempDir(t);
  mkdirSync(join(dataDir, 'files'));
  symlinkSync(elsewhere, join(dataDir, 'files', 'incoming'));
  t.throws(() => prepareFileFolders(dataDir), { errorName: 'DATA_DIR_UNUSABLE', message: /incoming is a symbolic link/ });

  const other = tempDir(t);
  const shared = tempDir(t);
  mkdirSync(join(other, 'files'));
  symlinkSync(shared, join(other, 'files', 'outgoing'));
  writeFileSync(join(shared, 'a.txt'), 'hello');
  const linked = prepareFileFolders(other);
  const source = await openOutgoingFile(linked, 'a.txt');
  t.teardown(() => source.handle.close());
  t.equal(source.identity.size, 5, 'a file in the linked folder is found');
});

t.test('a regular file in outgoing/, or below it, opens with what it is', async (t) => {
  const { folders: f } = folders(t);
  mkdirSync(join(f.outgoing, 'q3'));
  writeFileSync(join(f.outgoing, 'q3', 'report.pdf'), 'numbers');
  const source = await openOutgoingFile(f, 'q3/report.pdf');
  t.teardown(() => source.handle.close());
  t.equal(source.relativePath, 'q3/report.pdf');
  t.equal(source.identity.size, 7);
  t.equal(source.identity.ino, statSync(join(f.outgoing, 'q3', 'report.pdf')).ino);
  const buffer = Buffer.alloc(7);
  await source.handle.read(buffer, 0, 7, 0);
  t.equal(buffer.toString(), 'numbers');
});

t.test('paths a plugin gives are refused unless relative and plain', async (t) => {
  const { folders: f } = folders(t);
  writeFileSync(join(f.root, 'secret'), 'not to be sent');
  await refusal(t, f, '../secret', /without a \.\. segment/, '..');
  await refusal(t, f, 'a/../../secret', /without a \.\. segment/, '.. further in');
  await refusal(t, f, join(f.root, 'secret'), /not an absolute path/, 'absolute');
  await refusal(t, f, 'C:secret', /not an absolute path/, 'a drive letter');
  await refusal(t, f, '', /must not be empty/, 'empty');
  await refusal(t, f, './x', /without empty or \. segments/, '.');
  await refusal(t, f, 'a//x', /without empty or \. segments/, 'empty segment');
  await refusal(t, f, 'a\\x', /not \\/, 'backslash');
  await refusal(t, f, 'x\0y', /without NUL/, 'NUL');
  await refusal(t, f, 'x\u001b[2Jy', /without control or invisible characters/, 'an escape sequence');
  await refusal(t, f, 'x\u202ey', /without control or invisible characters/, 'a direction override');
  await refusal(t, f, 'a/'.repeat(2100) + 'x', /at most 4096 bytes/, 'too long');
  await refusal(t, f, 'missing.txt', /does not exist/, 'absent');
});

t.test('symbolic links are refused: to a file outside, and a folder inside that points outside', async (t) => {
  const { dataDir, folders: f } = folders(t);
  const secret = join(dataDir, 'identity.key');
  writeFileSync(secret, 'seed');
  symlinkSync(secret, join(f.outgoing, 'key'));
  await refusal(t, f, 'key', /is a symbolic link/, 'a link as the file itself');

  writeFileSync(join(f.outgoing, 'inside.txt'), 'inside');
  symlinkSync(join(f.outgoing, 'inside.txt'), join(f.outgoing, 'alias.txt'));
  await refusal(t, f, 'alias.txt', /is a symbolic link/, 'even a link to a file inside');

  mkdirSync(join(f.outgoing, 'docs'));
  symlinkSync(dataDir, join(f.outgoing, 'docs', 'up'));
  await refusal(t, f, 'docs/up/identity.key', /leads outside the folder/, 'a linked folder pointing outside');

  mkdirSync(join(f.outgoing, 'real'));
  writeFileSync(join(f.outgoing, 'real', 'ok.txt'), 'ok');
  symlinkSync(join(f.outgoing, 'real'), join(f.outgoing, 'via'));
  const source = await openOutgoingFile(f, 'via/ok.txt');
  t.teardown(() => source.handle.close());
  t.equal(source.realPath, join(realpathSync(f.outgoing), 'real', 'ok.txt'), 'a linked folder staying inside is followed');
});

t.test('a missing outgoing folder is named as such', async (t) => {
  const { folders: f } = folders(t);
  rmdirSync(f.outgoing);
  await t.rejects(openOutgoingFile(f, 'a.txt'), { errorName: 'NOT_AVAILABLE', message: /the folder of files to send, .*outgoing, cannot be read/ });
});

t.test('what is not a regular file is refused: a folder, a FIFO, a socket', async (t) => {
  const { folders: f } = folders(t);
  mkdirSync(join(f.outgoing, 'folder'));
  await refusal(t, f, 'folder', /is a folder, not a regular file/, 'a folder');
  if (isPosix) {
    execFileSync('mkfifo', [join(f.outgoing, 'pipe')]);
    await refusal(t, f, 'pipe', /is a FIFO, not a regular file/, 'a FIFO, without blocking on the open');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(f.outgoing, 'sock'), resolve));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await refusal(t, f, 'sock', /is a socket, not a regular file/, 'a socket');
  }
});

t.test('a received file’s name is made from the peer’s, never used as given', async (t) => {
  t.equal(safeIncomingName('report.pdf'), 'report.pdf');
  t.equal(safeIncomingName('../../.ssh/authorized_keys'), '_.._.ssh_authorized_keys', 'separators replaced, no leading dot');
  t.equal(safeIncomingName('/etc/passwd'), '_etc_passwd');
  t.equal(safeIncomingName('..'), FALLBACK_INCOMING_NAME);
  t.equal(safeIncomingName('.'), FALLBACK_INCOMING_NAME);
  t.equal(safeIncomingName('.bashrc'), 'bashrc', 'no hidden file');
  t.equal(safeIncomingName('a\u0000b\u001b[31mc\u202ed\u200be'), 'ab[31mcde', 'control, direction and zero-width characters removed');
  t.equal(safeIncomingName('C:\\Windows\\x.exe'), 'C__Windows_x.exe');
  t.equal(safeIncomingName('what?<>|*".txt'), 'what______.txt');
  t.equal(safeIncomingName('notes. . '), 'notes', 'no trailing dot or space');
  t.equal(safeIncomingName('CON'), '_CON');
  t.equal(safeIncomingName('nul.txt'), '_nul.txt');
  t.equal(safeIncomingName('\u200b\u200b'), FALLBACK_INCOMING_NAME, 'nothing left');
  const long = safeIncomingName(`${'é'.repeat(300)}.tar.gz`);
  t.ok(Buffer.byteLength(long, 'utf8') <= MAX_INCOMING_NAME_BYTES, 'cut to the limit in bytes');
  t.ok(long.endsWith('é.gz'), 'by whole characters, keeping the extension');
  t.equal(numberedName('report.pdf', 1), 'report.pdf');
  t.equal(numberedName('report.pdf', 2), 'report (2).pdf');
  t.equal(numberedName('archive', 3), 'archive (3)');
});

t.test('received files get unique names in incoming/, never overwrite, and a part linked already keeps its name', async (t) => {
  const { folders: f } = folders(t);
  const peer = peerIdFromPublicKey(new Uint8Array(randomBytes(32)));
  const part = (content: string): string => {
    const path = partFilePath(f, peer, randomBytes(16).toString('hex'));
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };
  writeFileSync(join(f.incoming, 'report.pdf'), 'the user’s own');
  const first = part('one');
  t.equal(await linkIntoIncoming(f, first, 'report.pdf'), 'report (2).pdf');
  t.equal(await linkIntoIncoming(f, part('two'), 'report.pdf'), 'report (3).pdf');
  t.equal(await linkIntoIncoming(f, part('three'), '../report.pdf'), '_report.pdf');
  t.equal(readFileSync(join(f.incoming, 'report.pdf'), 'utf8'), 'the user’s own', 'nothing overwritten');
  t.equal(readFileSync(join(f.incoming, 'report (2).pdf'), 'utf8'), 'one');
  t.equal(await linkIntoIncoming(f, first, 'report.pdf'), 'report (2).pdf', 'linking again after a crash finds the first link');
  t.same(readdirSync(f.incoming).sort(), ['_report.pdf', 'report (2).pdf', 'report (3).pdf', 'report.pdf']);
  if (isPosix) t.equal(statSync(join(f.incoming, 'report (3).pdf')).mode & 0o777, 0o600, 'the part’s mode is the file’s');

  writeFileSync(join(f.incoming, 'x'), '');
  writeFileSync(join(f.incoming, 'x (2)'), '');
  await t.rejects(linkIntoIncoming(f, part('four'), 'x', 2), { errorName: 'LIMIT_REACHED', message: /"x" and its 1 numbered forms are all taken/ });
});

t.test('part and upload paths only take ids', async (t) => {
  const { folders: f } = folders(t);
  const peer = peerIdFromPublicKey(new Uint8Array(randomBytes(32)));
  const id = randomBytes(16).toString('hex');
  t.equal(partFilePath(f, peer, id), join(f.partial, `${peer}-${id}.part`));
  t.throws(() => partFilePath(f, peer, '../../x'), { errorName: 'INVALID_INPUT', message: /the transfer id must be 32 lower-case hex/ });
  t.throws(() => partFilePath(f, '../x', id));
  t.equal(uploadFilePath(f, id), join(f.uploads, id));
  t.throws(() => uploadFilePath(f, `${id}/..`), { errorName: 'INVALID_INPUT', message: /the upload id must be 32 lower-case hex/ });
});

t.test('free space is checked with the margin, and a refusal gives the numbers', async (t) => {
  const { folders: f } = folders(t);
  const free = await checkFreeSpace(f.incoming, 1, 'receiving a.txt', 0);
  t.ok(free > 1, 'the free bytes are returned');
  await t.rejects(checkFreeSpace(f.incoming, 2 ** 52, 'receiving big.iso'), {
    errorName: 'FILE_LIMIT',
    message: /^receiving big\.iso needs 4\.0 PiB plus 256\.0 MiB kept free, and the disk holding .* has [\d.]+ [KMGTP]iB free/,
  });
  await t.rejects(checkFreeSpace(f.incoming, 0, 'receiving a.txt', free + 1), { errorName: 'FILE_LIMIT', message: /kept free/ }, 'the margin counts');
  t.equal(DEFAULT_FREE_SPACE_MARGIN_BYTES, 256 * 1024 * 1024);
});
