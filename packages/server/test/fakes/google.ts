import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';

export const GOOGLE_ISSUER = 'https://accounts.google.com';
const CERTS_PATH = '/oauth2/v3/certs';

/** What the fake's JWKS endpoint does: answer normally, fail with a status, send junk, or never answer. */
export type JwksBehaviour = 'ok' | { status: number } | 'not-json' | 'not-a-jwks' | 'hang';

export interface IdTokenOptions {
  /** Sign with a key the JWKS does not publish (an attacker's key). */
  key?: 'published' | 'unpublished';
  /** Override the `kid` header; by default the signing key's own kid. */
  kid?: string;
}

export interface FakeGoogle {
  /** The client id tokens are issued to unless `aud` is given. */
  readonly clientId: string;
  readonly jwksUrl: string;
  /** How many times the JWKS has been fetched. */
  readonly requests: number;
  /** The published key's id. */
  readonly kid: string;
  /** A Google-shaped ID token, valid for an hour; any claim can be overridden (`undefined` drops it). */
  signIdToken(claims?: Partial<GoogleClaims>, opts?: IdTokenOptions): Promise<string>;
  /** Changes what the JWKS endpoint answers from now on. */
  behave(behaviour: JwksBehaviour): void;
  close(): Promise<void>;
}

export interface GoogleClaims extends JWTPayload {
  email: string;
  email_verified: boolean | string;
  name: string;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicJwk };
}

let subjects = 0;
/** Google subjects are opaque numeric strings. */
export const googleSubject = () => `1${Date.now()}${String(++subjects).padStart(4, '0')}`;

/** A stand-in for https://www.googleapis.com/oauth2/v3/certs, plus the signing half Google keeps to itself. */
export async function startFakeGoogle(opts: { clientId?: string } = {}): Promise<FakeGoogle> {
  const clientId = opts.clientId ?? `${randomBytes(6).toString('hex')}.apps.googleusercontent.com`;
  const published = await signingKey(randomBytes(20).toString('hex'));
  const unpublished = await signingKey(randomBytes(20).toString('hex'));
  let behaviour: JwksBehaviour = 'ok';
  let requests = 0;
  const hanging = new Set<ServerResponse>();

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' || path !== CERTS_PATH) {
      res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>');
      return;
    }
    requests++;
    if (behaviour === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (typeof behaviour === 'object') {
      res.writeHead(behaviour.status, { 'content-type': 'text/html' }).end('<h1>Service Unavailable</h1>');
      return;
    }
    const body =
      behaviour === 'not-json'
        ? '<html>maintenance</html>'
        : behaviour === 'not-a-jwks'
          ? JSON.stringify({ keys: 'none today' })
          : JSON.stringify({ keys: [published.publicJwk] });
    res
      .writeHead(200, {
        'content-type': 'application/json; charset=UTF-8',
        'cache-control': 'public, max-age=21600, must-revalidate, no-transform',
      })
      .end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    clientId,
    jwksUrl: `http://127.0.0.1:${port}${CERTS_PATH}`,
    get requests() {
      return requests;
    },
    kid: published.kid,
    async signIdToken(claims = {}, options = {}) {
      const key = options.key === 'unpublished' ? unpublished : published;
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = {
        iss: GOOGLE_ISSUER,
        azp: clientId,
        aud: clientId,
        sub: googleSubject(),
        email: `g${randomBytes(4).toString('hex')}@gmail.com`,
        email_verified: true,
        name: 'Grace Hopper',
        iat: now,
        exp: now + 3600,
        ...claims,
      };
      for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
      return new SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? key.kid, typ: 'JWT' })
        .sign(key.privateKey);
    },
    behave(next) {
      behaviour = next;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const res of hanging) res.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
