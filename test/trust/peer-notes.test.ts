import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { PEER_NOTES_FILE_NAME, PeerNotes } from '../../extension/trust/peer-notes';
import { tempDir } from '../helpers/extension';

const ALICE = 'a'.repeat(51) + 'q';
const BOB = 'b'.repeat(51) + 'a';

t.test('a note is kept across a restart; empty or null removes it', async (t) => {
  const dir = tempDir(t);
  const notes = PeerNotes.open(dir);
  t.equal(notes.get(ALICE), null);
  notes.set(ALICE, 'Alice from the bakery', new Date('2026-11-30T10:00:00.000Z'));
  notes.set(BOB, 'Bob');
  t.equal(PeerNotes.open(dir).get(ALICE), 'Alice from the bakery');
  t.match(JSON.parse(readFileSync(join(dir, PEER_NOTES_FILE_NAME), 'utf8')), {
    version: 1,
    notes: { [ALICE]: { note: 'Alice from the bakery', updated_at: '2026-11-30T10:00:00.000Z' } },
  });
  notes.set(ALICE, '');
  notes.set(BOB, null);
  const reopened = PeerNotes.open(dir);
  t.same([reopened.get(ALICE), reopened.get(BOB)], [null, null]);
  notes.remove(ALICE);
});

t.test('limits and characters are checked before anything is written', async (t) => {
  const dir = tempDir(t);
  const notes = PeerNotes.open(dir, { maxNoteLength: 5, maxNotes: 1 });
  t.throws(() => notes.set(ALICE, 'toolong'), { errorName: 'INVALID_INPUT', message: /at most 5 characters/ });
  t.throws(() => notes.set(ALICE, 'a\u202eb'), { errorName: 'INVALID_INPUT', message: /text-direction/ });
  t.throws(() => notes.set(ALICE, 'a\u200bb'), { errorName: 'INVALID_INPUT', message: /zero-width/ });
  notes.set(ALICE, '😀😀😀😀😀');
  t.equal(notes.get(ALICE), '😀😀😀😀😀', 'counted in characters, not UTF-16 units');
  t.throws(() => notes.set(BOB, 'Bob'), { errorName: 'LIMIT_REACHED', message: /notes about 1 peers/ });
  notes.set(ALICE, 'new');
  t.equal(PeerNotes.open(dir).get(ALICE), 'new', 'changing a note is not a new one');
});

t.test('a damaged notes file stops the start with the file named, and is left as it is', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, PEER_NOTES_FILE_NAME);
  writeFileSync(path, JSON.stringify({ version: 1, notes: { [ALICE]: { note: 'x', updated_at: 'yesterday' } } }));
  t.throws(() => PeerNotes.open(dir), { errorName: 'STATE_FILE_CORRUPT', message: /the peer notes file .* is corrupt: .*move it away to forget your notes about peers/ });
  writeFileSync(path, JSON.stringify({ version: 1, notes: { 'not-a-peer': { note: 'x', updated_at: '2026-11-30T10:00:00.000Z' } } }));
  t.throws(() => PeerNotes.open(dir), { errorName: 'STATE_FILE_CORRUPT', message: /is corrupt/ });
  t.match(readFileSync(path, 'utf8'), /not-a-peer/);
});
