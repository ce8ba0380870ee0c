// The authorization server's ES256 signing keys, kept in `<data dir>/oauth/keys.json` (0600). One key
// signs; after `claude-async oauth rotate-key` the old one is retired but stays in the JWKS (and keeps
// verifying) until every access token it signed has expired.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { z } from 'zod';
import { StateFile } from '../../files/state-file.js';

const jwkSchema = z.record(z.string(), z.unknown());
const keyFileSchema = z.object({
  version: z.literal(1),
  keys: z.array(z.object({
    kid: z.string().min(1),
    privateJwk: jwkSchema,
    publicJwk: jwkSchema,
    createdAt: z.number(),
    /** Set when a newer key took over; the key verifies until retiredAt + the access-token lifetime. */
    retiredAt: z.number().optional(),
  })),
});
type KeyFile = z.infer<typeof keyFileSchema>;
type KeyRecord = KeyFile['keys'][number];

export const SIGNING_ALG = 'ES256';
/** Clock skew allowed on top of the access-token lifetime before a retired key leaves the JWKS. */
const RETIRED_KEY_GRACE_MS = 5 * 60_000;

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
}

async function newKey(now: number): Promise<KeyRecord> {
  const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALG },
    publicJwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' },
    createdAt: now,
  };
}

export class SigningKeys {
  private readonly file: StateFile<KeyFile>;
  private readonly imported = new Map<string, Promise<CryptoKey>>();

  constructor(path: string, private readonly accessTtlMs: number, private readonly now: () => number = Date.now) {
    this.file = new StateFile(path, keyFileSchema, () => ({ version: 1, keys: [] }), { now, what: 'claude-async OAuth file' });
  }

  /** Makes the first key on first start; a no-op once one exists. */
  async ensureKey(): Promise<void> {
    const current = await this.file.read();
    if (current.keys.some((k) => k.retiredAt === undefined)) return;
    const made = await newKey(this.now());
    await this.file.update((data) => {
      if (!data.keys.some((k) => k.retiredAt === undefined)) data.keys.push(made);
    });
  }

  /** Retires the signing key and makes a new one; returns the new kid. */
  async rotate(): Promise<{ kid: string; retired: string[] }> {
    const made = await newKey(this.now());
    return this.file.update((data) => {
      const now = this.now();
      const retired: string[] = [];
      for (const key of data.keys) {
        if (key.retiredAt === undefined) {
          key.retiredAt = now;
          retired.push(key.kid);
        }
      }
      data.keys = data.keys.filter((k) => this.stillVerifies(k, now));
      data.keys.push(made);
      return { kid: made.kid, retired };
    });
  }

  async signingKey(): Promise<SigningKey> {
    const data = await this.file.read();
    const active = data.keys.filter((k) => k.retiredAt === undefined).sort((a, b) => b.createdAt - a.createdAt)[0];
    if (!active) throw new Error('No OAuth signing key; the server makes one on start');
    return { kid: active.kid, privateKey: await this.importKey(active.kid, active.privateJwk) };
  }

  /** The public keys that may still verify a token: the JWKS document's `keys`. */
  async publicJwks(): Promise<JWK[]> {
    const data = await this.file.read();
    const now = this.now();
    return data.keys.filter((k) => this.stillVerifies(k, now)).map((k) => k.publicJwk as JWK);
  }

  async list(): Promise<Array<{ kid: string; createdAt: number; retiredAt?: number }>> {
    const data = await this.file.read();
    return data.keys.map((k) => ({ kid: k.kid, createdAt: k.createdAt, ...(k.retiredAt !== undefined ? { retiredAt: k.retiredAt } : {}) }));
  }

  private stillVerifies(key: KeyRecord, now: number): boolean {
    return key.retiredAt === undefined || now < key.retiredAt + this.accessTtlMs + RETIRED_KEY_GRACE_MS;
  }

  private importKey(kid: string, jwk: Record<string, unknown>): Promise<CryptoKey> {
    let key = this.imported.get(kid);
    if (!key) {
      key = importJWK(jwk as JWK, SIGNING_ALG) as Promise<CryptoKey>;
      this.imported.set(kid, key);
    }
    return key;
  }
}
