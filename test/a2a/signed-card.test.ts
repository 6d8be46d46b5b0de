import t from 'tap';
import { DEFAULT_AGENT_CARD_LIMITS, normalizeAgentCard } from '../../extension/a2a/agent-card';
import { decodeCard, encodeCard, signCard, type SignedAgentCard } from '../../extension/a2a/signed-card';
import { agentCardProtectedHeader, signAgentCard } from '../../extension/wire/agent-card-signature';
import { cardSigner, sdkStyleCard } from '../helpers/agent-cards';

const signer = cardSigner();
const signed = signCard(normalizeAgentCard(sdkStyleCard()), signer, DEFAULT_AGENT_CARD_LIMITS.maxCardBytes);

function decode(card: unknown, peerId = signer.peerId): ReturnType<typeof decodeCard> {
  return decodeCard(Buffer.from(JSON.stringify(card), 'utf8'), peerId, DEFAULT_AGENT_CARD_LIMITS);
}

/** The card with a change, signed again by the right key, so that only the change can be refused. */
function resigned(change: (unsigned: Record<string, any>) => void): Record<string, unknown> {
  const { signatures: _signatures, ...unsigned } = structuredClone(signed) as Record<string, any>;
  change(unsigned);
  return { ...unsigned, signatures: [signAgentCard(unsigned, signer)] };
}

t.test('a card as sent passes, in any JSON spelling', async (t) => {
  t.same(decodeCard(encodeCard(signed), signer.peerId, DEFAULT_AGENT_CARD_LIMITS), signed);
  t.same(decodeCard(Buffer.from(JSON.stringify(signed, null, 2)), signer.peerId, DEFAULT_AGENT_CARD_LIMITS), signed, 'indented, members in another order');
});

t.test('each refusal, in the order of the checks', async (t) => {
  const tooLarge = Buffer.alloc(DEFAULT_AGENT_CARD_LIMITS.maxCardBytes + 1, 0xff);
  t.equal(decodeCard(tooLarge, signer.peerId, DEFAULT_AGENT_CARD_LIMITS), 'too_large', 'size before anything is read');
  t.equal(decodeCard(Uint8Array.of(0x7b, 0xff, 0x7d), signer.peerId, DEFAULT_AGENT_CARD_LIMITS), 'malformed', 'not UTF-8');
  t.equal(decodeCard(Buffer.from('{"name":'), signer.peerId, DEFAULT_AGENT_CARD_LIMITS), 'malformed', 'not JSON');
  t.equal(decode([signed]), 'malformed', 'not an object');
  t.equal(decode({ ...signed, signatures: {} }), 'bad_schema', 'signatures not a list');
  t.equal(decode({ ...signed, supportedInterfaces: ['p2p-comm://x'] }), 'bad_schema', 'interfaces not objects');
  t.equal(decode({ ...signed, skills: [] }), 'bad_schema', 'a card A2A would refuse');
  t.equal(decode({ ...signed, name: 'Trip\u202Eplanner' }), 'bad_schema', 'a name that could disguise itself');
  const levels = 7000;
  const deep = Buffer.from(`${JSON.stringify(signed).slice(0, -1)},"extra":${'['.repeat(levels)}${']'.repeat(levels)}}`);
  t.equal(decodeCard(deep, signer.peerId, DEFAULT_AGENT_CARD_LIMITS), 'bad_schema', 'nesting that would overflow a recursive walk');
  t.equal(decode(resigned((card) => (card['documentationUrl'] = ''))), 'not_canonical', 'an empty field the normalized form leaves out');
  t.equal(decode(resigned((card) => (card['shown'] = 'an unknown field'))), 'not_canonical', 'a field normalization drops: never shown');
  t.equal(decode(resigned((card) => delete card['capabilities'].streaming)), 'not_canonical', 'streaming left implicit');
  t.equal(decode(resigned((card) => (card['capabilities'].extensions[0].required = false))), 'not_canonical', 'required:false spelled out');
  t.equal(decode({ ...signed, signatures: [] }), 'bad_header', 'no signature');
  t.equal(decode({ ...signed, signatures: [...signed.signatures, ...signed.signatures] }), 'bad_header', 'two signatures');
  t.equal(decode({ ...signed, signatures: [{ ...signed.signatures[0], header: { kid: 'x' } }] }), 'bad_header', 'an unprotected header');
  t.equal(decode(signed, cardSigner().peerId), 'bad_header', 'signed in another name than the session peer’s');
  t.equal(decode(resigned((card) => (card['supportedInterfaces'] = []))), 'wrong_interface', 'no interface');
  t.equal(decode(resigned((card) => card['supportedInterfaces'].push({ url: 'http://127.0.0.1:1/', protocolBinding: 'JSONRPC', protocolVersion: '1.0' }))), 'wrong_interface', 'a second interface');
  t.equal(decode(resigned((card) => (card['supportedInterfaces'][0].url = `p2p-comm://${cardSigner().peerId}`))), 'wrong_interface', 'another node’s');
  t.equal(decode(resigned((card) => (card['supportedInterfaces'][0].protocolVersion = '0.3'))), 'wrong_interface', 'another version');
  t.equal(decode(resigned((card) => (card['supportedInterfaces'][0].tenant = 't'))), 'wrong_interface', 'a tenant');
  t.equal(decode({ ...signed, description: 'Books and pays.' }), 'bad_signature', 'a field changed after signing');
  const otherSigner = { ...cardSigner(), peerId: signer.peerId };
  const { signatures: _signatures, ...unsigned } = signed;
  t.equal(decode({ ...unsigned, signatures: [signAgentCard(unsigned, otherSigner)] }), 'bad_signature', 'the right header, another key');
  t.equal(agentCardProtectedHeader(signer.peerId), (signed.signatures[0] as SignedAgentCard['signatures'][number]).protected);
});

t.test('a card is checked against the key the peer signs with now, which a rotation moves away from the one its id names', async (t) => {
  const current = cardSigner();
  const byCurrentKey = signCard(normalizeAgentCard(sdkStyleCard()), { peerId: signer.peerId, sign: current.sign }, DEFAULT_AGENT_CARD_LIMITS.maxCardBytes);
  t.same(decodeCard(encodeCard(byCurrentKey), signer.peerId, DEFAULT_AGENT_CARD_LIMITS, current.publicKey), byCurrentKey, 'signed by the current key');
  t.equal(decodeCard(encodeCard(signed), signer.peerId, DEFAULT_AGENT_CARD_LIMITS, current.publicKey), 'bad_signature', 'signed by the first key after the rotation');
  t.equal(decodeCard(encodeCard(byCurrentKey), signer.peerId, DEFAULT_AGENT_CARD_LIMITS), 'bad_signature', 'without the current key, only the key the id names counts');
});
