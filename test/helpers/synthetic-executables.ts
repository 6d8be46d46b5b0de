import { SEA_FUSE } from '../../packaging/executable-headers';

/**
 * The smallest ELF, Mach-O and PE files that carry what the packager
 * checks (machine, SEA blob where Node looks for it, fuse, signature), so
 * the checks can be tested without the release binaries of every platform.
 * Layouts as in the ELF gABI, <mach-o/loader.h> and the PE/COFF spec.
 */

export interface SyntheticOptions {
  machine: number;
  /** The SEA blob to embed, or none. */
  blob?: Buffer;
  /** The fuse's last character, or no fuse string at all. */
  fuse?: '0' | '1' | 'none';
  signed?: boolean;
}

function fuseBytes(fuse: SyntheticOptions['fuse']): Buffer {
  return fuse === 'none' ? Buffer.alloc(0) : Buffer.from(`${SEA_FUSE}:${fuse ?? '1'}`, 'latin1');
}

function padded(bytes: Buffer, align: number): Buffer {
  return Buffer.concat([bytes, Buffer.alloc((align - (bytes.length % align)) % align)]);
}

function elfNote(name: string, type: number, desc: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt32LE(name.length + 1, 0);
  header.writeUInt32LE(desc.length, 4);
  header.writeUInt32LE(type, 8);
  return Buffer.concat([header, padded(Buffer.from(`${name}\0`, 'latin1'), 4), padded(desc, 4)]);
}

export const ELF_X86_64 = 0x3e;
export const ELF_AARCH64 = 0xb7;

export function syntheticElf(options: SyntheticOptions): Buffer {
  const notes = Buffer.concat([
    elfNote('GNU', 3, Buffer.alloc(20, 0xab)),
    ...(options.blob === undefined ? [] : [elfNote('NODE_SEA_BLOB', 0, options.blob)]),
  ]);
  const header = Buffer.alloc(64);
  header.writeUInt32BE(0x7f454c46, 0);
  header[4] = 2; // 64-bit
  header[5] = 1; // little-endian
  header[6] = 1;
  header.writeUInt16LE(2, 0x10); // executable
  header.writeUInt16LE(options.machine, 0x12);
  header.writeBigUInt64LE(64n, 0x20); // program headers right after
  header.writeUInt16LE(56, 0x36);
  header.writeUInt16LE(1, 0x38);
  const programHeader = Buffer.alloc(56);
  programHeader.writeUInt32LE(4, 0); // PT_NOTE
  programHeader.writeBigUInt64LE(BigInt(64 + 56), 8);
  programHeader.writeBigUInt64LE(BigInt(notes.length), 32);
  programHeader.writeBigUInt64LE(4n, 48);
  return Buffer.concat([header, programHeader, notes, fuseBytes(options.fuse)]);
}

export const MACHO_X86_64 = 0x01000007;
export const MACHO_ARM64 = 0x0100000c;

function name16(name: string): Buffer {
  const field = Buffer.alloc(16);
  field.write(name, 'latin1');
  return field;
}

export function syntheticMachO(options: SyntheticOptions): Buffer {
  const blob = options.blob ?? Buffer.alloc(0);
  const segment = Buffer.alloc(72 + 80);
  const signature = Buffer.alloc(options.signed === true ? 16 : 0);
  const commandsSize = segment.length + signature.length;
  const blobOffset = 32 + commandsSize;
  segment.writeUInt32LE(0x19, 0); // LC_SEGMENT_64
  segment.writeUInt32LE(segment.length, 4);
  name16('NODE_SEA').copy(segment, 8);
  segment.writeUInt32LE(1, 64);
  name16(options.blob === undefined ? '__other' : '__NODE_SEA_BLOB').copy(segment, 72);
  name16('NODE_SEA').copy(segment, 72 + 16);
  segment.writeBigUInt64LE(BigInt(blob.length), 72 + 40);
  segment.writeUInt32LE(blobOffset, 72 + 48);
  if (options.signed === true) {
    signature.writeUInt32LE(0x1d, 0); // LC_CODE_SIGNATURE
    signature.writeUInt32LE(16, 4);
  }
  const header = Buffer.alloc(32);
  header.writeUInt32LE(0xfeedfacf, 0);
  header.writeUInt32LE(options.machine, 4);
  header.writeUInt32LE(2, 12); // MH_EXECUTE
  header.writeUInt32LE(options.signed === true ? 2 : 1, 16);
  header.writeUInt32LE(commandsSize, 20);
  return Buffer.concat([header, segment, signature, blob, fuseBytes(options.fuse)]);
}

export const PE_AMD64 = 0x8664;
export const PE_ARM64 = 0xaa64;

const PE_HEADER = 0x40;
const OPTIONAL_SIZE = 112 + 16 * 8;
const SECTION_TABLE = PE_HEADER + 24 + OPTIONAL_SIZE;
const RSRC_OFFSET = 0x200;
const RSRC_RVA = 0x1000;

/** root → RT_RCDATA (10) → "NODE_SEA_BLOB" → language 0x409 → the blob, all in one .rsrc section. */
function resourceSection(blob: Buffer): Buffer {
  const directory = (namedEntries: number, idEntries: number): Buffer => {
    const dir = Buffer.alloc(16);
    dir.writeUInt16LE(namedEntries, 12);
    dir.writeUInt16LE(idEntries, 14);
    return dir;
  };
  const entry = (nameField: number, target: number): Buffer => {
    const bytes = Buffer.alloc(8);
    bytes.writeUInt32LE(nameField >>> 0, 0);
    bytes.writeUInt32LE(target >>> 0, 4);
    return bytes;
  };
  const SUBDIR = 0x80000000;
  const name = Buffer.from('NODE_SEA_BLOB', 'utf16le');
  const nameDir = 24;
  const languageDir = 48;
  const dataEntry = 72;
  const nameString = 88;
  const data = nameString + padded(Buffer.concat([Buffer.alloc(2), name]), 8).length;
  const nameLength = Buffer.alloc(2);
  nameLength.writeUInt16LE(name.length / 2, 0);
  const dataEntryBytes = Buffer.alloc(16);
  dataEntryBytes.writeUInt32LE(RSRC_RVA + data, 0);
  dataEntryBytes.writeUInt32LE(blob.length, 4);
  const section = Buffer.concat([
    directory(0, 1),
    entry(10, (SUBDIR | nameDir) >>> 0),
    directory(1, 0),
    entry((SUBDIR | nameString) >>> 0, (SUBDIR | languageDir) >>> 0),
    directory(0, 1),
    entry(0x409, dataEntry),
    dataEntryBytes,
    padded(Buffer.concat([nameLength, name]), 8),
    blob,
  ]);
  if (section.length - blob.length !== data) throw new Error('resource layout out of step');
  return padded(section, 0x200);
}

export function syntheticPe(options: SyntheticOptions): Buffer {
  const rsrc = options.blob === undefined ? Buffer.alloc(0x200) : resourceSection(options.blob);
  const headers = Buffer.alloc(RSRC_OFFSET);
  headers.write('MZ', 0, 'latin1');
  headers.writeUInt32LE(PE_HEADER, 0x3c);
  headers.write('PE\0\0', PE_HEADER, 'latin1');
  headers.writeUInt16LE(options.machine, PE_HEADER + 4);
  headers.writeUInt16LE(1, PE_HEADER + 6);
  headers.writeUInt16LE(OPTIONAL_SIZE, PE_HEADER + 20);
  const optional = PE_HEADER + 24;
  headers.writeUInt16LE(0x20b, optional);
  if (options.blob !== undefined) {
    headers.writeUInt32LE(RSRC_RVA, optional + 112 + 2 * 8);
    headers.writeUInt32LE(rsrc.length, optional + 112 + 2 * 8 + 4);
  }
  headers.write('.rsrc', SECTION_TABLE, 'latin1');
  headers.writeUInt32LE(rsrc.length, SECTION_TABLE + 8);
  headers.writeUInt32LE(RSRC_RVA, SECTION_TABLE + 12);
  headers.writeUInt32LE(rsrc.length, SECTION_TABLE + 16);
  headers.writeUInt32LE(RSRC_OFFSET, SECTION_TABLE + 20);
  const fuse = padded(fuseBytes(options.fuse), 8);
  const certificate = options.signed === true ? Buffer.alloc(64, 0x5a) : Buffer.alloc(0);
  if (options.signed === true) {
    headers.writeUInt32LE(RSRC_OFFSET + rsrc.length + fuse.length, optional + 112 + 4 * 8);
    headers.writeUInt32LE(certificate.length, optional + 112 + 4 * 8 + 4);
  }
  return Buffer.concat([headers, rsrc, fuse, certificate]);
}
