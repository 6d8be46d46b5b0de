import t from 'tap';
import {
  type Decision,
  decodeDecision,
  DecisionResult,
  encodeDecision,
  MSG_DECISION,
  RefusalReason,
  refusalName,
} from '../../extension/wire/decision';

t.test('the wire values are the documented ones', async (t) => {
  t.equal(MSG_DECISION, 0x10);
  t.same(DecisionResult, { SESSION_OPEN: 1, REQUEST_STORED: 2, REFUSED: 3 });
  t.same(RefusalReason, { NONE: 0, NOT_TRUSTED: 1, AWAITING_CONSENT: 2, REJECTED: 3, BUSY: 4, REVOKED: 5 });
});

t.test('every result and reason round-trips through two bytes', async (t) => {
  for (const result of Object.values(DecisionResult)) {
    for (const reason of Object.values(RefusalReason)) {
      const decision: Decision = { result, reason };
      const encoded = encodeDecision(decision);
      t.same([...encoded], [result, reason], `${result}/${reason} is encoded as result, reason`);
      t.same(decodeDecision(encoded), decision, `${result}/${reason} decodes back`);
    }
  }
});

t.test('decode reads a view into a larger buffer', async (t) => {
  const buffer = Uint8Array.of(9, 9, DecisionResult.REFUSED, RefusalReason.BUSY, 9);
  t.same(decodeDecision(buffer.subarray(2, 4)), { result: DecisionResult.REFUSED, reason: RefusalReason.BUSY });
});

t.test('decode refuses a body of the wrong length', async (t) => {
  t.equal(decodeDecision(new Uint8Array(0)), null, 'empty');
  t.equal(decodeDecision(Uint8Array.of(DecisionResult.SESSION_OPEN)), null, 'one byte');
  t.equal(decodeDecision(Uint8Array.of(DecisionResult.SESSION_OPEN, RefusalReason.NONE, 0)), null, 'three bytes');
  t.equal(decodeDecision(new Uint8Array(64).fill(1)), null, '64 bytes');
});

t.test('decode refuses an unknown result', async (t) => {
  for (const result of [0, 4, 0x10, 0xff]) {
    t.equal(decodeDecision(Uint8Array.of(result, RefusalReason.NONE)), null, `result ${result}`);
  }
});

t.test('decode refuses an unknown reason', async (t) => {
  for (const reason of [6, 0x7f, 0xff]) {
    t.equal(decodeDecision(Uint8Array.of(DecisionResult.REFUSED, reason)), null, `reason ${reason}`);
  }
});

t.test('refusalName', async (t) => {
  t.equal(refusalName(RefusalReason.NONE), 'none');
  t.equal(refusalName(RefusalReason.NOT_TRUSTED), 'not_trusted');
  t.equal(refusalName(RefusalReason.AWAITING_CONSENT), 'awaiting_consent');
  t.equal(refusalName(RefusalReason.REJECTED), 'rejected');
  t.equal(refusalName(RefusalReason.BUSY), 'busy');
  t.equal(refusalName(RefusalReason.REVOKED), 'revoked');
  t.equal(refusalName(42 as RefusalReason), 'unknown');
});
