import { chmodSync, constants, lstatSync, mkdirSync, type Stats, statSync } from 'node:fs';
import { type FileHandle, link, lstat, open, readdir, realpath, stat, statfs } from 'node:fs/promises';
import { isAbsolute, join, sep } from 'node:path';
import { isErrnoException } from '../common/atomic-file';
import { removeForbiddenCharacters } from '../common/display-name';
import { P2pError } from '../common/errors';
import { cachedPublicKeyFromPeerId } from '../common/peer-id';
import { quoteUntrusted } from '../common/quote-text';

/**
 * The folders of file transfers under the data directory (design §3.3):
 *
 *   files/outgoing/   filled by the user; the extension only reads regular files under it
 *   files/incoming/   completed received files, written by the extension
 *   files/.partial/   the receiver's part files, <peer id>-<transfer id>.part
 *   files/.uploads/   bytes a plugin gave in parts, <upload id>
 *
 * A plugin names a file to send, and a peer names a file it sends; neither
 * is trusted with a path. The extension cannot tell which plugin calls, so
 * it reads only what the user put in outgoing/, and it writes a received
 * file only under a name it made itself, in incoming/.
 */
export interface FileFolders {
  /** `<data_dir>/files`. */
  root: string;
  outgoing: string;
  incoming: string;
  partial: string;
  uploads: string;
}

export const FILES_FOLDER_NAME = 'files';

/** Received files and part files hold what a peer sent to this user alone. */
export const PRIVATE_FILE_MODE = 0o600;
const PRIVATE_FOLDER_MODE = 0o700;

/** Longest relative path accepted in outgoing/: PATH_MAX on Linux, so a longer one could not be opened anyway. */
export const MAX_OUTGOING_PATH_BYTES = 4096;

/**
 * Longest name given to a received file, in UTF-8 bytes: under the 255 of
 * common file systems with room for a " (1000)" suffix, so that a long
 * name a peer chose never makes the link fail.
 */
export const MAX_INCOMING_NAME_BYTES = 200;

/** Taken when a peer's name leaves nothing usable once cleaned. */
export const FALLBACK_INCOMING_NAME = 'file';

/** How many "name (n).ext" are tried before a received file is refused a name. */
export const DEFAULT_MAX_NAME_ATTEMPTS = 1000;

/** Free space kept beyond a transfer's bytes (design §3.4), so that a transfer never fills the disk the node's logs live on. */
export const DEFAULT_FREE_SPACE_MARGIN_BYTES = 256 * 1024 * 1024;

/**
 * Creates the folders that do not exist, 0700. The extension's own folders
 * (files/, incoming/, .partial/, .uploads/) must be real directories, and
 * are narrowed to 0700 when found wider: they hold what peers sent to this
 * user. outgoing/ is the user's: it may be a symbolic link to a folder of
 * theirs, and its mode is left as they set it.
 */
export function prepareFileFolders(dataDir: string): FileFolders {
  const root = join(dataDir, FILES_FOLDER_NAME);
  const folders: FileFolders = {
    root,
    outgoing: join(root, 'outgoing'),
    incoming: join(root, 'incoming'),
    partial: join(root, '.partial'),
    uploads: join(root, '.uploads'),
  };
  for (const folder of [folders.root, folders.incoming, folders.partial, folders.uploads]) preparePrivateFolder(folder);
  prepareUserFolder(folders.outgoing);
  return folders;
}

/** What a resolved outgoing file is, from the descriptor itself: what later reads are checked against (a change cancels the transfer). */
export interface SourceIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

export interface OutgoingSource {
  /** Open read-only; the caller closes it. */
  handle: FileHandle;
  /** As given, checked. */
  relativePath: string;
  /** Where it really is, under the real path of outgoing/. */
  realPath: string;
  identity: SourceIdentity;
}

/**
 * Opens a file a plugin named in outgoing/ for reading. Refused, each with
 * INVALID_INPUT naming the rule: a path that is empty, absolute, has a `..`,
 * `.` or empty segment, a backslash, NUL or another control or invisible
 * character, or is longer than MAX_OUTGOING_PATH_BYTES; a file that does
 * not exist, is a symbolic link, is not a regular file (a folder, a FIFO,
 * a socket, a device), or whose real path leaves outgoing/ (a linked folder
 * on the way pointing outside). The file is opened with O_NOFOLLOW and
 * O_NONBLOCK (a FIFO would otherwise block the open until a writer comes),
 * and what was opened is checked, not only what the path named before.
 */
export async function openOutgoingFile(folders: FileFolders, relativePath: string): Promise<OutgoingSource> {
  checkOutgoingPath(relativePath);
  const refuse = (rule: string) => new P2pError('INVALID_INPUT', `${quoteUntrusted(relativePath)} in ${folders.outgoing} ${rule}`);
  const path = join(folders.outgoing, relativePath);
  const folderReal = await realpath(folders.outgoing).catch((error: unknown) => {
    throw new P2pError('NOT_AVAILABLE', `the folder of files to send, ${folders.outgoing}, cannot be read (${error instanceof Error ? error.message : String(error)}): create it again and put the file in it`);
  });
  const linkStats = await lstat(path).catch((error: unknown) => {
    throw refuse(openFailure(error));
  });
  if (linkStats.isSymbolicLink()) throw refuse('is a symbolic link; only files placed in the folder itself are sent');
  const handle = await open(path, constants.O_RDONLY | NO_FOLLOW | NON_BLOCK).catch((error: unknown) => {
    throw refuse(openFailure(error));
  });
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) throw refuse(`is ${kindOf(opened)}, not a regular file`);
    const real = await realpath(path);
    if (!real.startsWith(folderReal + sep)) throw refuse(`leads outside the folder (to ${quoteUntrusted(real)}) through a symbolic link`);
    const atReal = await stat(real);
    if (atReal.dev !== opened.dev || atReal.ino !== opened.ino) throw refuse('changed while it was being opened; try again');
    return { handle, relativePath, realPath: real, identity: { dev: opened.dev, ino: opened.ino, size: opened.size, mtimeMs: opened.mtimeMs } };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The path rules of openOutgoingFile, without touching the disk. */
export function checkOutgoingPath(relativePath: string): void {
  const refuse = (rule: string) => new P2pError('INVALID_INPUT', `a file to send is named by its path relative to files/outgoing, ${rule}; got ${quoteUntrusted(relativePath)}`);
  if (relativePath.length === 0) throw refuse('which must not be empty');
  if (Buffer.byteLength(relativePath, 'utf8') > MAX_OUTGOING_PATH_BYTES) throw refuse(`at most ${MAX_OUTGOING_PATH_BYTES} bytes`);
  if (relativePath.includes('\0')) throw refuse('without NUL');
  if (removeForbiddenCharacters(relativePath) !== relativePath) throw refuse('without control or invisible characters');
  if (isAbsolute(relativePath) || /^[A-Za-z]:/.test(relativePath)) throw refuse('not an absolute path');
  if (relativePath.includes('\\')) throw refuse('with / between folders, not \\');
  for (const segment of relativePath.split('/')) {
    if (segment === '..') throw refuse('without a .. segment');
    if (segment === '' || segment === '.') throw refuse('without empty or . segments');
  }
}

/**
 * A file name made from the name a peer chose, never used as given: the
 * control and invisible characters of the display-name rule removed,
 * path separators and the characters Windows refuses replaced by `_`, no
 * leading dot (no hidden file, no `.` or `..`), no trailing dot or space
 * (Windows drops them), no Windows device name (`CON`, `NUL.txt`, …), at
 * most MAX_INCOMING_NAME_BYTES, keeping a short extension; FALLBACK_INCOMING_NAME
 * when nothing is left.
 */
export function safeIncomingName(senderName: string): string {
  let name = removeForbiddenCharacters(senderName)
    .replace(/[/\\:<>"|?*]/g, '_')
    .trim()
    .replace(/^[.\s]+/, '')
    .replace(/[.\s]+$/, '');
  if (WINDOWS_DEVICE_NAME.test(name)) name = `_${name}`;
  name = fitBytes(name, MAX_INCOMING_NAME_BYTES);
  return name === '' ? FALLBACK_INCOMING_NAME : name;
}

/** `report.pdf`, `report (2).pdf`, `report (3).pdf`, …: the n-th name tried for a received file. */
export function numberedName(name: string, n: number): string {
  if (n === 1) return name;
  const { stem, extension } = splitExtension(name);
  return `${stem} (${n})${extension}`;
}

/**
 * Gives the verified part file its name in incoming/: links it under the
 * first free numbered form of safeIncomingName(senderName), and makes the
 * new entry durable. link(2) never replaces a file, so two transfers of
 * one name, or a file the user put there, are never overwritten. If the
 * part is linked already (a crash after the link and before the journal
 * recorded the name), the name it has is returned and no second copy made:
 * a file is received once, never twice. Returns the name in incoming/.
 */
export async function linkIntoIncoming(folders: FileFolders, partPath: string, senderName: string, maxAttempts = DEFAULT_MAX_NAME_ATTEMPTS): Promise<string> {
  const part = await stat(partPath);
  if (part.nlink > 1) {
    const existing = await nameOfLink(folders.incoming, part);
    if (existing !== undefined) return existing;
  }
  const name = safeIncomingName(senderName);
  for (let n = 1; n <= maxAttempts; n += 1) {
    const candidate = numberedName(name, n);
    try {
      await link(partPath, join(folders.incoming, candidate));
    } catch (error) {
      if (isErrnoException(error) && error.code === 'EEXIST') continue;
      throw error;
    }
    await fsyncFolder(folders.incoming);
    return candidate;
  }
  throw new P2pError(
    'LIMIT_REACHED',
    `${quoteUntrusted(name)} and its ${maxAttempts - 1} numbered forms are all taken in ${folders.incoming}: move some of those files away, then the transfer can finish`,
  );
}

/** `.partial/<peer id>-<transfer id>.part`: both ids are checked, so no id from a peer can make it a path elsewhere. */
export function partFilePath(folders: FileFolders, peerId: string, transferId: string): string {
  cachedPublicKeyFromPeerId(peerId);
  checkHexId(transferId, 'transfer id');
  return join(folders.partial, `${peerId}-${transferId}.part`);
}

/** `.uploads/<upload id>`, the id checked. */
export function uploadFilePath(folders: FileFolders, uploadId: string): string {
  checkHexId(uploadId, 'upload id');
  return join(folders.uploads, uploadId);
}

/**
 * Refuses, with FILE_LIMIT and the numbers, when the disk holding
 * `directory` has less than `neededBytes` plus `marginBytes` free for this
 * user (statfs bavail: what an unprivileged writer may use); `what` names
 * the need ("receiving report.pdf"). Returns the free bytes.
 */
export async function checkFreeSpace(directory: string, neededBytes: number, what: string, marginBytes = DEFAULT_FREE_SPACE_MARGIN_BYTES): Promise<number> {
  const stats = await statfs(directory);
  const free = stats.bavail * stats.bsize;
  if (free < neededBytes + marginBytes) {
    throw new P2pError(
      'FILE_LIMIT',
      `${what} needs ${describeBytes(neededBytes)} plus ${describeBytes(marginBytes)} kept free, and the disk holding ${directory} has ${describeBytes(free)} free: ` +
        'free some space and try again, or cancel the transfer',
    );
  }
  return free;
}

/** "3.2 GiB", "95.0 MiB", "512 bytes": sizes as people read them in refusals. */
export function describeBytes(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  if (bytes < 1024) return `${bytes} bytes`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit] as string}`;
}

/** Where the platform has no such flag (Windows) the lstat before the open is the check. */
const NO_FOLLOW = constants.O_NOFOLLOW ?? 0;
const NON_BLOCK = constants.O_NONBLOCK ?? 0;

/** A base name Windows takes for a device, whatever its extension. */
const WINDOWS_DEVICE_NAME = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$/i;

/** An extension this long or shorter is kept when a name is cut; a longer "extension" is part of the name. */
const MAX_KEPT_EXTENSION_LENGTH = 16;

const HEX_ID = /^[0-9a-f]{32}$/;

function preparePrivateFolder(path: string): void {
  createFolder(path);
  const stats = lstatSync(path);
  if (!stats.isDirectory()) {
    throw new P2pError('DATA_DIR_UNUSABLE', `${path} is ${kindOf(stats)}, where p2p-comm keeps a folder of its own: move it away and start again`);
  }
  if (process.platform !== 'win32' && (stats.mode & 0o077) !== 0) chmodSync(path, PRIVATE_FOLDER_MODE);
}

function prepareUserFolder(path: string): void {
  createFolder(path);
  const stats = statSync(path);
  if (!stats.isDirectory()) {
    throw new P2pError('DATA_DIR_UNUSABLE', `${path} is ${kindOf(stats)}, where the files to send belong: make it a folder (or a link to one) and start again`);
  }
}

function createFolder(path: string): void {
  try {
    mkdirSync(path, { mode: PRIVATE_FOLDER_MODE });
  } catch (error) {
    if (isErrnoException(error) && error.code === 'EEXIST') return;
    throw new P2pError('DATA_DIR_UNUSABLE', `cannot create ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  // The umask may have narrowed the mode given to mkdir; set it exactly.
  if (process.platform !== 'win32') chmodSync(path, PRIVATE_FOLDER_MODE);
}

function openFailure(error: unknown): string {
  if (!isErrnoException(error)) throw error;
  switch (error.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return 'does not exist; put the file in that folder first';
    case 'ENAMETOOLONG':
      return 'has a name too long for the file system';
    case 'ELOOP':
      return 'is a symbolic link; only files placed in the folder itself are sent';
    case 'ENXIO':
      return 'is a socket, not a regular file';
    case 'EACCES':
    case 'EPERM':
      return 'cannot be read by p2p-comm (permission denied)';
    default:
      throw error;
  }
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'a regular file';
}

function splitExtension(name: string): { stem: string; extension: string } {
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || name.length - dot > MAX_KEPT_EXTENSION_LENGTH) return { stem: name, extension: '' };
  return { stem: name.slice(0, dot), extension: name.slice(dot) };
}

/** The name cut, by whole code points, to at most `maxBytes` of UTF-8, its extension kept. */
function fitBytes(name: string, maxBytes: number): string {
  if (Buffer.byteLength(name, 'utf8') <= maxBytes) return name;
  const { stem, extension } = splitExtension(name);
  const room = maxBytes - Buffer.byteLength(extension, 'utf8');
  let kept = '';
  let bytes = 0;
  for (const character of stem) {
    bytes += Buffer.byteLength(character, 'utf8');
    if (bytes > room) break;
    kept += character;
  }
  return `${kept.trimEnd()}${extension}`;
}

async function nameOfLink(folder: string, file: Stats): Promise<string | undefined> {
  for (const entry of await readdir(folder)) {
    const stats = await lstat(join(folder, entry)).catch(() => undefined);
    if (stats !== undefined && stats.dev === file.dev && stats.ino === file.ino) return entry;
  }
  return undefined;
}

/** Makes a new entry in the folder durable, not only the file's contents. */
async function fsyncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function checkHexId(id: string, what: string): void {
  if (!HEX_ID.test(id)) throw new P2pError('INVALID_INPUT', `the ${what} must be 32 lower-case hex characters, got ${quoteUntrusted(id)}`);
}
