import type { PublicKeyRefusal } from '../../extension/common/ed25519-public-key';
import type { StaticIdentity } from '../../extension/wire/handshake';

const key = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));

/** One refused key per reason, each from docs/vectors/ed25519-public-keys.json. */
export const WEAK_KEYS: Record<PublicKeyRefusal, Uint8Array> = {
  /** y = p + 3: another spelling of a point of large order. */
  non_canonical: key('f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
  /** y = 2: no point has it. */
  not_on_curve: key('0200000000000000000000000000000000000000000000000000000000000000'),
  /** The identity point. */
  small_order: key('0100000000000000000000000000000000000000000000000000000000000000'),
};

/** The identity point's key, and the signature OpenSSL accepts under it for every message: R = identity, S = 0. */
export const IDENTITY_KEY = WEAK_KEYS.small_order;
export const IDENTITY_SIGNATURE = Uint8Array.from({ length: 64 }, (_, i) => (i === 0 ? 1 : 0));

/** An identity for a hand-driven peer whose key is the identity point: it "signs" anything without a secret. */
export const SMALL_ORDER_IDENTITY: StaticIdentity = { publicKey: IDENTITY_KEY, sign: () => IDENTITY_SIGNATURE };
