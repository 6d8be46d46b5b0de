import { PackagingError } from './errors';
import type { ExecutableFormat, Machine } from './targets';

/**
 * Reads what the packager must check in an executable of another platform,
 * which cannot be run here: its format and machine, the SEA blob where that
 * platform's Node looks for it (an ELF note, a Mach-O section in the
 * NODE_SEA segment, a PE RCDATA resource), the sentinel fuse that tells
 * Node a blob is there, and whether a code signature is left. Only the
 * 64-bit little-endian layouts of the targets are read.
 */

export const SEA_RESOURCE = 'NODE_SEA_BLOB';
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
export const MACHO_SEA_SEGMENT = 'NODE_SEA';
/** Mach-O section names carry the `__` prefix (postject adds it). */
export const MACHO_SEA_SECTION = `__${SEA_RESOURCE}`;

export type FuseState = 'set' | 'unset' | 'missing';

export interface ExecutableFacts {
  format: ExecutableFormat;
  machine: Machine | `unknown machine ${number}`;
  /** The embedded SEA blob, or null when there is none. */
  seaBlob: Buffer | null;
  fuse: FuseState;
  /** A code signature is present (Mach-O LC_CODE_SIGNATURE, PE certificate table). */
  signed: boolean;
}

export function inspectExecutable(bytes: Buffer): ExecutableFacts {
  try {
    if (bytes.length >= 4 && bytes.readUInt32BE(0) === ELF_MAGIC) return inspectElf(bytes);
    if (bytes.length >= 4 && bytes.readUInt32LE(0) === MACHO_MAGIC_64) return inspectMachO(bytes);
    if (bytes.length >= 2 && bytes.toString('latin1', 0, 2) === 'MZ') return inspectPe(bytes);
  } catch (error) {
    if (error instanceof PackagingError) throw error;
    throw new PackagingError('executable_mismatch', `the executable is truncated or malformed: ${(error as Error).message}`);
  }
  throw new PackagingError('executable_mismatch', 'not a 64-bit little-endian ELF, Mach-O or PE executable');
}

/** The fuse is one `<SEA_FUSE>:0` string in a Node binary; injecting a blob turns the 0 into 1. */
export function fuseState(bytes: Buffer): FuseState {
  const marker = Buffer.from(`${SEA_FUSE}:`, 'latin1');
  const at = bytes.indexOf(marker);
  if (at === -1 || bytes.indexOf(marker, at + 1) !== -1) return 'missing';
  const flag = bytes[at + marker.length];
  if (flag === 0x31) return 'set';
  return flag === 0x30 ? 'unset' : 'missing';
}

function cString(bytes: Buffer, start: number, maxLength: number): string {
  const end = bytes.indexOf(0, start);
  return bytes.toString('latin1', start, end === -1 || end > start + maxLength ? start + maxLength : end);
}

function within(bytes: Buffer, offset: number, length: number, what: string): Buffer {
  if (offset < 0 || length < 0 || offset + length > bytes.length) {
    throw new PackagingError('executable_mismatch', `${what} lies outside the file (offset ${offset}, ${length} bytes)`);
  }
  return bytes.subarray(offset, offset + length);
}

// ELF -----------------------------------------------------------------------

const ELF_MAGIC = 0x7f454c46;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const PT_NOTE = 4;
const ELF_MACHINES: Record<number, Machine> = { 0x3e: 'x86_64', 0xb7: 'aarch64' };

function inspectElf(bytes: Buffer): ExecutableFacts {
  if (bytes[4] !== ELFCLASS64 || bytes[5] !== ELFDATA2LSB) {
    throw new PackagingError('executable_mismatch', 'ELF, but not 64-bit little-endian');
  }
  const machine = bytes.readUInt16LE(0x12);
  return {
    format: 'elf',
    machine: ELF_MACHINES[machine] ?? `unknown machine ${machine}`,
    seaBlob: elfNote(bytes, SEA_RESOURCE),
    fuse: fuseState(bytes),
    signed: false,
  };
}

/** Node finds its blob among the notes of the loaded PT_NOTE segments, so only those are searched. */
function elfNote(bytes: Buffer, name: string): Buffer | null {
  const programHeaders = Number(bytes.readBigUInt64LE(0x20));
  const entrySize = bytes.readUInt16LE(0x36);
  const count = bytes.readUInt16LE(0x38);
  for (let index = 0; index < count; index++) {
    const header = programHeaders + index * entrySize;
    if (bytes.readUInt32LE(header) !== PT_NOTE) continue;
    const offset = Number(bytes.readBigUInt64LE(header + 8));
    const size = Number(bytes.readBigUInt64LE(header + 32));
    const align = Number(bytes.readBigUInt64LE(header + 48)) === 8 ? 8 : 4;
    const found = findNote(within(bytes, offset, size, 'a PT_NOTE segment'), name, align);
    if (found !== null) return found;
  }
  return null;
}

function findNote(segment: Buffer, name: string, align: number): Buffer | null {
  const padded = (length: number): number => Math.ceil(length / align) * align;
  let at = 0;
  while (at + 12 <= segment.length) {
    const nameSize = segment.readUInt32LE(at);
    const descSize = segment.readUInt32LE(at + 4);
    const descAt = at + 12 + padded(nameSize);
    if (descAt + descSize > segment.length) return null;
    if (cString(segment, at + 12, nameSize) === name) return segment.subarray(descAt, descAt + descSize);
    at = descAt + padded(descSize);
  }
  return null;
}

// Mach-O --------------------------------------------------------------------

const MACHO_MAGIC_64 = 0xfeedfacf;
const LC_SEGMENT_64 = 0x19;
const LC_CODE_SIGNATURE = 0x1d;
const MACHO_CPUS: Record<number, Machine> = { 0x01000007: 'x86_64', 0x0100000c: 'aarch64' };

function inspectMachO(bytes: Buffer): ExecutableFacts {
  const cpu = bytes.readUInt32LE(4);
  const commandCount = bytes.readUInt32LE(16);
  let seaBlob: Buffer | null = null;
  let signed = false;
  let at = 32;
  for (let index = 0; index < commandCount; index++) {
    const command = bytes.readUInt32LE(at);
    const size = bytes.readUInt32LE(at + 4);
    if (command === LC_CODE_SIGNATURE) signed = true;
    if (command === LC_SEGMENT_64 && cString(bytes, at + 8, 16) === MACHO_SEA_SEGMENT) {
      seaBlob = machOSection(bytes, at, MACHO_SEA_SECTION);
    }
    if (size < 8) throw new PackagingError('executable_mismatch', `Mach-O load command ${index} has size ${size}`);
    at += size;
  }
  return { format: 'macho', machine: MACHO_CPUS[cpu] ?? `unknown machine ${cpu}`, seaBlob, fuse: fuseState(bytes), signed };
}

function machOSection(bytes: Buffer, segment: number, name: string): Buffer | null {
  const sectionCount = bytes.readUInt32LE(segment + 64);
  for (let index = 0; index < sectionCount; index++) {
    const section = segment + 72 + index * 80;
    if (cString(bytes, section, 16) !== name) continue;
    const size = Number(bytes.readBigUInt64LE(section + 40));
    return within(bytes, bytes.readUInt32LE(section + 48), size, `Mach-O section ${name}`);
  }
  return null;
}

// PE ------------------------------------------------------------------------

const PE_MACHINES: Record<number, Machine> = { 0x8664: 'x86_64', 0xaa64: 'aarch64' };
const PE32_PLUS = 0x20b;
const RESOURCE_DIRECTORY = 2;
const SECURITY_DIRECTORY = 4;
const RT_RCDATA = 10;

interface PeLayout {
  machine: number;
  /** File offset of data directory entry `index` (8 bytes: address, size). */
  directoryEntry: (index: number) => number;
  sections: { virtualAddress: number; virtualSize: number; rawOffset: number; rawSize: number }[];
}

export function peLayout(bytes: Buffer): PeLayout {
  const header = bytes.readUInt32LE(0x3c);
  if (bytes.toString('latin1', header, header + 4) !== 'PE\0\0') {
    throw new PackagingError('executable_mismatch', 'MZ header without a PE signature');
  }
  const sectionCount = bytes.readUInt16LE(header + 6);
  const optionalSize = bytes.readUInt16LE(header + 20);
  const optional = header + 24;
  if (bytes.readUInt16LE(optional) !== PE32_PLUS) throw new PackagingError('executable_mismatch', 'PE, but not PE32+ (64-bit)');
  const sections = [];
  for (let index = 0; index < sectionCount; index++) {
    const entry = optional + optionalSize + index * 40;
    sections.push({
      virtualSize: bytes.readUInt32LE(entry + 8),
      virtualAddress: bytes.readUInt32LE(entry + 12),
      rawSize: bytes.readUInt32LE(entry + 16),
      rawOffset: bytes.readUInt32LE(entry + 20),
    });
  }
  return { machine: bytes.readUInt16LE(header + 4), directoryEntry: (index) => optional + 112 + index * 8, sections };
}

function inspectPe(bytes: Buffer): ExecutableFacts {
  const layout = peLayout(bytes);
  const security = layout.directoryEntry(SECURITY_DIRECTORY);
  return {
    format: 'pe',
    machine: PE_MACHINES[layout.machine] ?? `unknown machine ${layout.machine}`,
    seaBlob: peResource(bytes, layout, RT_RCDATA, SEA_RESOURCE),
    fuse: fuseState(bytes),
    signed: bytes.readUInt32LE(security) !== 0 || bytes.readUInt32LE(security + 4) !== 0,
  };
}

function fileOffsetOf(layout: PeLayout, rva: number): number {
  const section = layout.sections.find((s) => rva >= s.virtualAddress && rva < s.virtualAddress + Math.max(s.virtualSize, s.rawSize));
  if (section === undefined) throw new PackagingError('executable_mismatch', `PE address 0x${rva.toString(16)} is in no section`);
  return section.rawOffset + (rva - section.virtualAddress);
}

/** Windows' FindResource(NULL, name, RT_RCDATA): type by id, then name, then the first language. */
function peResource(bytes: Buffer, layout: PeLayout, type: number, name: string): Buffer | null {
  const entry = layout.directoryEntry(RESOURCE_DIRECTORY);
  const rootRva = bytes.readUInt32LE(entry);
  if (rootRva === 0) return null;
  const root = fileOffsetOf(layout, rootRva);
  const byType = resourceEntry(bytes, root, root, (id) => id === type);
  if (byType === null || !byType.isDirectory) return null;
  const byName = resourceEntry(bytes, root, byType.offset, (_id, entryName) => entryName === name);
  if (byName === null || !byName.isDirectory) return null;
  const byLanguage = resourceEntry(bytes, root, byName.offset, () => true);
  if (byLanguage === null || byLanguage.isDirectory) return null;
  const dataRva = bytes.readUInt32LE(byLanguage.offset);
  const size = bytes.readUInt32LE(byLanguage.offset + 4);
  return within(bytes, fileOffsetOf(layout, dataRva), size, `PE resource ${name}`);
}

const HIGH_BIT = 0x80000000;

function resourceEntry(
  bytes: Buffer,
  root: number,
  directory: number,
  matches: (id: number | null, name: string | null) => boolean,
): { offset: number; isDirectory: boolean } | null {
  const count = bytes.readUInt16LE(directory + 12) + bytes.readUInt16LE(directory + 14);
  for (let index = 0; index < count; index++) {
    const entry = directory + 16 + index * 8;
    const nameField = bytes.readUInt32LE(entry);
    const target = bytes.readUInt32LE(entry + 4);
    const named = (nameField & HIGH_BIT) !== 0;
    const name = named ? resourceName(bytes, root + (nameField & ~HIGH_BIT)) : null;
    if (matches(named ? null : nameField, name)) {
      return { offset: root + (target & ~HIGH_BIT), isDirectory: (target & HIGH_BIT) !== 0 };
    }
  }
  return null;
}

function resourceName(bytes: Buffer, at: number): string {
  const length = bytes.readUInt16LE(at);
  return within(bytes, at + 2, length * 2, 'a PE resource name').toString('utf16le');
}

/**
 * After injection a PE keeps the certificate-table entry of the release's
 * Authenticode signature, though the bytes it points at were rewritten:
 * Windows would see a corrupt signature rather than none. The entry is
 * cleared (what `signtool remove /s` does), and the table itself cut off
 * when it still ends the file. Returns the bytes to write back.
 */
export function withoutPeSignature(bytes: Buffer): Buffer {
  const layout = peLayout(bytes);
  const entry = layout.directoryEntry(SECURITY_DIRECTORY);
  const offset = bytes.readUInt32LE(entry);
  const size = bytes.readUInt32LE(entry + 4);
  const sectionsEnd = Math.max(0, ...layout.sections.map((s) => s.rawOffset + s.rawSize));
  const tableEndsFile = offset !== 0 && offset >= sectionsEnd && offset + size === bytes.length;
  const unsigned = tableEndsFile ? Buffer.from(bytes.subarray(0, offset)) : bytes;
  unsigned.writeUInt32LE(0, entry);
  unsigned.writeUInt32LE(0, entry + 4);
  return unsigned;
}
