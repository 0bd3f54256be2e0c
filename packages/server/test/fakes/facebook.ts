import { randomBytes } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const VERSION = 'v21.0';

export interface FacebookProfile {
  id: string;
  name?: string;
  /** Absent when the person has no confirmed address or did not grant the `email` permission. */
  email?: string;
}

/** What the fake answers from now on: normally, with a Graph error status, or never. */
export type GraphBehaviour = 'ok' | { status: number } | 'hang';

export interface FakeFacebook {
  readonly appId: string;
  /** Changes when `resetSecret()` is called, as when the secret is reset in the app dashboard. */
  readonly appSecret: string;
  /** Base URL with the API version, like https://graph.facebook.com/v21.0. */
  readonly graphUrl: string;
  /** Paths requested so far, e.g. ['/debug_token', '/me']. */
  readonly calls: readonly string[];
  /**
   * Mints a user access token for `profile`, issued to this app unless `appId` says otherwise.
   * `expiresAt` is unix seconds; 0 means it never expires (Facebook's own convention).
   */
  issueToken(profile: FacebookProfile, opts?: { appId?: string; expiresAt?: number }): string;
  behave(behaviour: GraphBehaviour): void;
  /** Issues the app a new secret; the old one stops working. */
  resetSecret(): void;
  close(): Promise<void>;
}

interface Issued {
  profile: FacebookProfile;
  appId: string;
  expiresAt: number;
}

const graphError = (message: string, code: number, extra: Record<string, unknown> = {}) => ({
  error: {
    message,
    type: 'OAuthException',
    code,
    ...extra,
    fbtrace_id: randomBytes(8).toString('base64url'),
  },
});

let ids = 0;
/** Facebook app-scoped user ids are numeric strings. */
export const facebookUserId = () => `10${Date.now()}${String(++ids).padStart(3, '0')}`;

/** A stand-in for the two Graph API calls a login needs: GET /debug_token and GET /me. */
export async function startFakeFacebook(
  opts: { appId?: string; appSecret?: string } = {},
): Promise<FakeFacebook> {
  const appId = opts.appId ?? String(100000000000000 + Math.floor(Math.random() * 1e14));
  let appSecret = opts.appSecret ?? randomBytes(16).toString('hex');
  const tokens = new Map<string, Issued>();
  const calls: string[] = [];
  const hanging = new Set<ServerResponse>();
  let behaviour: GraphBehaviour = 'ok';

  const send = (res: ServerResponse, status: number, body: unknown) =>
    res
      .writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'x-fb-rev': '1' })
      .end(JSON.stringify(body));
  const now = () => Math.floor(Date.now() / 1000);
  const expired = (t: Issued) => t.expiresAt !== 0 && t.expiresAt <= now();
  const expiredMessage = (t: Issued) =>
    `Error validating access token: Session has expired on ${new Date(t.expiresAt * 1000).toUTCString()}.`;

  function debugToken(res: ServerResponse, q: URLSearchParams) {
    const appToken = q.get('access_token');
    if (!appToken)
      return send(res, 400, graphError('An access token is required to request this resource.', 104));
    if (appToken !== `${appId}|${appSecret}`)
      return send(res, 400, graphError('Invalid OAuth access token signature.', 190));
    const input = q.get('input_token');
    if (!input) return send(res, 400, graphError('(#100) The parameter input_token is required', 100));
    const t = tokens.get(input);
    if (!t)
      return send(res, 200, {
        data: { error: { code: 190, message: 'Invalid OAuth access token.' }, is_valid: false, scopes: [] },
      });
    const data = {
      app_id: t.appId,
      type: 'USER',
      application: t.appId === appId ? 'tickets' : 'Some Other App',
      data_access_expires_at: now() + 90 * 86400,
      expires_at: t.expiresAt,
      is_valid: !expired(t),
      scopes: t.profile.email ? ['email', 'public_profile'] : ['public_profile'],
      user_id: t.profile.id,
      ...(expired(t) ? { error: { code: 190, message: expiredMessage(t), subcode: 463 } } : {}),
    };
    return send(res, 200, { data });
  }

  function me(res: ServerResponse, q: URLSearchParams) {
    const token = q.get('access_token');
    if (!token)
      return send(
        res,
        400,
        graphError('An active access token must be used to query information about the current user.', 2500),
      );
    const t = tokens.get(token);
    if (!t) return send(res, 400, graphError('Invalid OAuth access token - Cannot parse access token', 190));
    if (expired(t)) return send(res, 400, graphError(expiredMessage(t), 190, { error_subcode: 463 }));
    const fields = (q.get('fields') ?? 'id,name').split(',');
    const profile: Record<string, string> = {};
    for (const f of fields) {
      const v = t.profile[f as keyof FacebookProfile];
      if (v !== undefined) profile[f] = v;
    }
    return send(res, 200, profile);
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/^\/v\d+\.\d+(?=\/)/, '');
    calls.push(path);
    if (behaviour === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    if (typeof behaviour === 'object')
      return send(
        res,
        behaviour.status,
        graphError('An unexpected error has occurred. Please retry your request later.', 2, {
          is_transient: true,
        }),
      );
    if (req.method === 'GET' && path === '/debug_token') return debugToken(res, url.searchParams);
    if (req.method === 'GET' && path === '/me') return me(res, url.searchParams);
    return send(res, 400, graphError(`Unknown path components: ${path}`, 2500));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    appId,
    get appSecret() {
      return appSecret;
    },
    graphUrl: `http://127.0.0.1:${port}/${VERSION}`,
    calls,
    issueToken(profile, o = {}) {
      const token = `EAA${randomBytes(30).toString('base64url')}`;
      tokens.set(token, { profile, appId: o.appId ?? appId, expiresAt: o.expiresAt ?? now() + 60 * 86400 });
      return token;
    },
    behave(next) {
      behaviour = next;
    },
    resetSecret() {
      appSecret = randomBytes(16).toString('hex');
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const res of hanging) res.destroy();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
