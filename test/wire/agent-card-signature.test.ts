import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AgentCard as SdkAgentCard, canonicalizeAgentCard, verifyAgentCardSignature } from '@a2a-js/sdk';
import fc from 'fast-check';
import t from 'tap';
import { DEFAULT_AGENT_CARD_LIMITS, normalizeAgentCard } from '../../extension/a2a/agent-card';
import { decodeCard, encodeCard, signCard, type SignedAgentCard } from '../../extension/a2a/signed-card';
import { agentCardProtectedHeader, checkAgentCardSignature } from '../../extension/wire/agent-card-signature';
import { canonicalJson } from '../../extension/wire/jcs';
import { cardSigner, sdkStyleCard } from '../helpers/agent-cards';
import { identityFromSeed } from '../helpers/fixed-identity';

/** The published card (docs/vectors/protocol-v2.json), as any A2A client would fetch it. */
const vector = JSON.parse(readFileSync(join(__dirname, '..', '..', 'docs', 'vectors', 'protocol-v2.json'), 'utf8')).agent_card;

/** The A2A SDK's own verifier, given the signer's key as the JWK an A2A client would build from the peer id. */
function sdkVerifier(x: Uint8Array): (card: unknown) => Promise<void> {
  const verify = verifyAgentCardSignature(async () => ({ kty: 'OKP', crv: 'Ed25519', x: Buffer.from(x).toString('base64url') }));
  return (card) => verify(card as SdkAgentCard);
}

const signer = cardSigner();
const signed = signCard(normalizeAgentCard(sdkStyleCard()), signer, DEFAULT_AGENT_CARD_LIMITS.maxCardBytes);
const verifyBySdk = sdkVerifier(signer.publicKey);

t.test('the A2A SDK verifies the published card, and a card signed here; the vector tampered fails both', async (t) => {
  t.capture(console, 'debug', () => undefined);
  const vectorKey = identityFromSeed(Buffer.from(vector.identity_seed, 'hex')).publicKey;
  await t.resolves(sdkVerifier(vectorKey)(vector.signed_card), 'the vector');
  await t.resolves(verifyBySdk(signed), 'a fresh card');
  const tampered = { ...vector.signed_card, name: 'Bank of Trips' };
  await t.rejects(sdkVerifier(vectorKey)(tampered), 'the SDK refuses the vector with another name');
  t.equal(decodeCard(Buffer.from(JSON.stringify(tampered)), vector.peer_id, DEFAULT_AGENT_CARD_LIMITS), 'bad_signature', 'and so do the receiving checks');
});

t.test('a tampered card fails both the SDK and the receiving checks', async (t) => {
  // The SDK logs each failed signature entry at debug level; that is not this test's output.
  t.capture(console, 'debug', () => undefined);
  const tampered = (change: (card: SignedAgentCard) => void): SignedAgentCard => {
    const copy = structuredClone(signed);
    change(copy);
    return copy;
  };
  const cases: [string, SignedAgentCard][] = [
    ['description changed', tampered((card) => (card.description = `${card.description} Pays for you.`))],
    ['a skill added', tampered((card) => card.skills.push({ id: 'pay', name: 'Pay', description: 'Pays.', tags: ['money'] }))],
    ['streaming turned off', tampered((card) => (card.capabilities.streaming = false))],
    ['interface moved to another node', tampered((card) => ((card.supportedInterfaces[0] as { url: string }).url = 'p2p-comm://someone-else'))],
    ['a signature bit flipped', tampered((card) => flipSignature(card))],
  ];
  for (const [what, card] of cases) {
    await t.rejects(verifyBySdk(card), `${what}: the SDK refuses it`);
    const refusal = decodeCard(encodeCard(card), signer.peerId, DEFAULT_AGENT_CARD_LIMITS);
    t.ok(refusal === 'bad_signature' || refusal === 'wrong_interface', `${what}: refused here too (${String(refusal)})`);
  }
  t.same(decodeCard(encodeCard(signed), signer.peerId, DEFAULT_AGENT_CARD_LIMITS), signed, 'the card as signed passes');
});

t.test('only the one header: other kid, other alg, alg none, an extra member, another member order', async (t) => {
  const card = withoutSignatures(signed);
  const header = (json: string): string => Buffer.from(json, 'ascii').toString('base64url');
  const genuine = signed.signatures[0]!;
  t.equal(checkAgentCardSignature(card, genuine, signer.peerId, signer.publicKey), null);
  const other = cardSigner();
  t.equal(checkAgentCardSignature(card, genuine, other.peerId, other.publicKey), 'bad_header', 'signed in another peer’s name');
  const headers = [
    `{"alg":"EdDSA","kid":"${other.peerId}","typ":"JOSE"}`,
    `{"alg":"Ed25519","kid":"${signer.peerId}","typ":"JOSE"}`,
    `{"alg":"none","kid":"${signer.peerId}","typ":"JOSE"}`,
    `{"alg":"HS256","kid":"${signer.peerId}","typ":"JOSE"}`,
    `{"alg":"EdDSA","kid":"${signer.peerId}","typ":"JOSE","jku":"https://evil.example/keys"}`,
    `{"kid":"${signer.peerId}","alg":"EdDSA","typ":"JOSE"}`,
    `{"alg":"EdDSA","kid":"${signer.peerId}","typ":"JWT"}`,
  ];
  for (const json of headers) {
    // Signed properly under that header, by the right key: the form alone is refused.
    const forged = { protected: header(json), signature: Buffer.from(signer.sign(Buffer.from(`${header(json)}.${Buffer.from(canonicalJson(card)).toString('base64url')}`))).toString('base64url') };
    t.equal(checkAgentCardSignature(card, forged, signer.peerId, signer.publicKey), 'bad_header', json);
  }
  t.equal(agentCardProtectedHeader(signer.peerId), header(`{"alg":"EdDSA","kid":"${signer.peerId}","typ":"JOSE"}`));
  t.equal(checkAgentCardSignature(card, { ...genuine, signature: `${genuine.signature}A` }, signer.peerId, signer.publicKey), 'bad_signature', 'a signature that is not 64 bytes');
  t.equal(checkAgentCardSignature(card, { ...genuine, signature: genuine.signature.replace(/.$/, 'x') }, signer.peerId, signer.publicKey), 'bad_signature', 'a non-canonical base64url spelling');
});

/** Cards as a plugin might write them: optional fields present or not, empty ones, unicode text. */
const plausibleText = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((text) => !/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u2800]/u.test(text) && text.trim() !== '');
const token = fc.stringMatching(/^[a-z][a-z0-9/+.-]{0,20}$/);
const skill = fc.record(
  { id: token, name: plausibleText, description: plausibleText, tags: fc.array(plausibleText, { minLength: 1, maxLength: 3 }), examples: fc.array(plausibleText, { maxLength: 2 }), inputModes: fc.array(token, { maxLength: 2 }) },
  { requiredKeys: ['id', 'name', 'description', 'tags'] },
);
const cardInput = fc.record(
  {
    name: plausibleText,
    description: plausibleText,
    version: token,
    documentationUrl: fc.constantFrom('', 'https://docs.example/agent'),
    capabilities: fc.record({ streaming: fc.boolean(), extensions: fc.array(fc.record({ uri: token, required: fc.boolean(), params: fc.dictionary(token, fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), plausibleText, fc.boolean())) }), { maxLength: 2 }) }, { requiredKeys: [] }),
    defaultInputModes: fc.array(token, { minLength: 1, maxLength: 3 }),
    defaultOutputModes: fc.array(token, { minLength: 1, maxLength: 3 }),
    skills: fc.array(skill, { minLength: 1, maxLength: 3 }),
  },
  { requiredKeys: ['name', 'description', 'version', 'defaultInputModes', 'defaultOutputModes', 'skills'] },
);

t.test('on any normalized card, this JCS is what the SDK canonicalizes, and the SDK verifies the signature', async (t) => {
  await fc.assert(
    fc.asyncProperty(cardInput, async (input) => {
      const card = signCard(normalizeAgentCard(input), signer, DEFAULT_AGENT_CARD_LIMITS.maxCardBytes);
      if (canonicalizeAgentCard(card as unknown as SdkAgentCard) !== canonicalJson(withoutSignatures(card))) return false;
      await verifyBySdk(card);
      return typeof decodeCard(encodeCard(card), signer.peerId, DEFAULT_AGENT_CARD_LIMITS) === 'object';
    }),
    { numRuns: 150, seed: 2026 },
  );
  t.pass();
});

function withoutSignatures(card: SignedAgentCard): Record<string, unknown> {
  const { signatures: _signatures, ...rest } = card;
  return rest;
}

function flipSignature(card: SignedAgentCard): void {
  const entry = card.signatures[0]!;
  const bytes = Buffer.from(entry.signature, 'base64url');
  bytes[10] = (bytes[10] as number) ^ 1;
  entry.signature = bytes.toString('base64url');
}
