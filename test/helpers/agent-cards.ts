import { randomBytes } from 'node:crypto';
import { peerIdFromPublicKey } from '../../extension/common/peer-id';
import type { StaticIdentity } from '../../extension/wire/handshake';
import { identityFromSeed } from './fixed-identity';

/**
 * An agent card the way an A2A SDK sample writes one: every v1.0 field,
 * some of them empty, and the fields p2p-comm drops (the plugin's own
 * interface, security, push notifications), as a plugin would hand it to
 * a2a_set_card.
 */
export function sdkStyleCard(): Record<string, unknown> {
  return {
    name: 'Trip planner ✈',
    description: 'Plans trips: flights, trains and hotels.\nAsks before it books anything — it never pays on its own.',
    version: '1.4.0',
    provider: { organization: 'Example Travel', url: 'https://travel.example' },
    documentationUrl: '',
    supportedInterfaces: [{ url: 'http://127.0.0.1:41241/', protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' }],
    capabilities: {
      streaming: true,
      pushNotifications: false,
      extensions: [{ uri: 'https://travel.example/ext/budget', description: 'Keeps to a budget', required: false, params: { currency: 'EUR', max_legs: 4, ratio: 0.5, notes: '' } }],
    },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ['text/plain'],
    defaultOutputModes: ['text/plain', 'application/json'],
    skills: [
      {
        id: 'plan-trip',
        name: 'Plan a trip',
        description: 'A day-by-day plan between two places, with the connections.',
        tags: ['travel', 'planning', ''],
        examples: ['Zurich to Lisbon by train next week', 'Three days in Porto'],
        inputModes: [],
        outputModes: ['application/json'],
        securityRequirements: [],
      },
      { id: 'book', name: 'Book', description: 'Books what a plan lists, once you confirm.', tags: ['booking'] },
    ],
    signatures: [],
  };
}

/** A signer as signCard wants it, from a test identity. */
export function cardSigner(identity: StaticIdentity = identityFromSeed(randomBytes(32))): StaticIdentity & { peerId: string } {
  return { ...identity, peerId: peerIdFromPublicKey(identity.publicKey) };
}
