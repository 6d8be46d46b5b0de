import t from 'tap';
import { derivedCard } from '../../../permissions/a2a/derived-card';

const PEER = 'a'.repeat(51) + 'q';
const BASE = 'http://127.0.0.1:4321/a2a/' + PEER + '/';

const SIGNED = {
  name: 'Meeting planner',
  description: 'Finds a time to meet.',
  version: '1.0.0',
  capabilities: { streaming: true, pushNotifications: true, extendedAgentCard: true, extensions: [{ uri: 'urn:x', required: false }] },
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  skills: [{ id: 'plan', name: 'Plan a meeting', description: 'Proposes a day.', tags: ['calendar'] }],
  supportedInterfaces: [{ url: `p2p-comm://${PEER}`, protocolBinding: 'urn:p2p-comm:a2a:v1', protocolVersion: '1.0' }],
  signatures: [{ protected: 'eyJ...', signature: 'sig' }],
};

t.test('the peer card re-pointed at this host: JSON-RPC first, the p2p-comm interface kept, no signatures, bearer auth', async (t) => {
  const card = derivedCard(SIGNED, BASE);
  t.notOk('signatures' in card, 'a rewritten card cannot keep the peer signature');
  t.same(card['supportedInterfaces'], [
    { url: BASE, protocolBinding: 'JSONRPC', protocolVersion: '1.0' },
    { url: `p2p-comm://${PEER}`, protocolBinding: 'urn:p2p-comm:a2a:v1', protocolVersion: '1.0' },
  ]);
  t.same(card['capabilities'], { streaming: true, extensions: [{ uri: 'urn:x', required: false }] }, 'push notifications and the extended card are not offered here');
  t.same(card['securitySchemes'], { 'p2p-comm-host': { httpAuthSecurityScheme: { scheme: 'Bearer', description: 'token from POST /api/v1/auth/token' } } });
  t.same(card['securityRequirements'], [{ schemes: { 'p2p-comm-host': { list: [] } } }]);
  t.same({ name: card['name'], skills: card['skills'], version: card['version'] }, { name: SIGNED.name, skills: SIGNED.skills, version: SIGNED.version }, 'what describes the agent is the peer’s');
});

t.test('a card without streaming or interfaces of the binding: streaming false, only the local interface', async (t) => {
  const { capabilities: _capabilities, supportedInterfaces: _interfaces, ...bare } = SIGNED;
  const card = derivedCard({ ...bare, supportedInterfaces: [{ url: 'https://elsewhere.example/', protocolBinding: 'JSONRPC', protocolVersion: '1.0' }] }, BASE);
  t.same(card['capabilities'], { streaming: false });
  t.same(card['supportedInterfaces'], [{ url: BASE, protocolBinding: 'JSONRPC', protocolVersion: '1.0' }], 'no other interface of the peer is offered');
});
