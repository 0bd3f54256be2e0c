import { createRemoteJWKSet, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { Config } from '../../config.js';
import { ApiError } from '../../http/errors.js';
import type { ExternalIdentity } from './auth.js';

const GOOGLE_ISSUERS = ['https://accounts.google.com', 'accounts.google.com'];

const notConfigured = (provider: string, vars: string) =>
  new ApiError(
    501,
    'provider_not_configured',
    `Sign-in with ${provider} is not set up on this server (${vars}).`,
  );
const rejected = (provider: string, why: string) =>
  new ApiError(401, 'social_login_failed', `${provider} did not vouch for this sign-in: ${why}.`);

/**
 * What jose throws when the key set could not be had, as opposed to a token that fails verification:
 * a network error (TypeError from fetch), a timeout, a non-200 or non-JSON answer (the generic
 * JOSEError), or JSON that is not a key set.
 */
function isKeyFetchFailure(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return (
    err instanceof TypeError ||
    code === 'ERR_JWKS_TIMEOUT' ||
    code === 'ERR_JOSE_GENERIC' ||
    code === 'ERR_JWKS_INVALID'
  );
}

/** Verifies ID tokens against Google's published keys (cached and refreshed by jose). */
export class GoogleVerifier {
  private readonly jwks: JWTVerifyGetKey;
  constructor(private readonly config: Config['google']) {
    this.jwks = createRemoteJWKSet(new URL(config.jwksUrl), { timeoutDuration: 5000 });
  }

  async verify(idToken: string): Promise<ExternalIdentity> {
    if (!this.config.clientId) throw notConfigured('Google', 'GOOGLE_CLIENT_ID');
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(idToken, this.jwks, {
        issuer: GOOGLE_ISSUERS,
        audience: this.config.clientId,
        algorithms: ['RS256'],
      }));
    } catch (err) {
      if (isKeyFetchFailure(err))
        throw new ApiError(502, 'provider_unavailable', 'Could not fetch Google’s signing keys; try again.');
      throw rejected('Google', (err as Error).message);
    }
    if (typeof payload.sub !== 'string') throw rejected('Google', 'the token has no subject');
    return {
      provider: 'google',
      subject: payload.sub,
      email: typeof payload.email === 'string' ? payload.email.toLowerCase() : null,
      emailVerified: payload.email_verified === true || payload.email_verified === 'true',
      name: typeof payload.name === 'string' ? payload.name : '',
    };
  }
}

interface DebugToken {
  data?: { app_id?: string; is_valid?: boolean; user_id?: string; expires_at?: number };
}
interface Profile {
  id?: string;
  name?: string;
  email?: string;
}

/** Checks a Facebook user token with the Graph API's debug_token, then reads the profile. */
export class FacebookVerifier {
  constructor(private readonly config: Config['facebook']) {}

  async verify(userToken: string): Promise<ExternalIdentity> {
    const { appId, appSecret, graphUrl } = this.config;
    if (!appId || !appSecret) throw notConfigured('Facebook', 'FACEBOOK_APP_ID, FACEBOOK_APP_SECRET');
    const base = graphUrl.replace(/\/$/, '');
    // debug_token answers 200 with is_valid:false for a bad user token, so an error status here is
    // about this server's own app credentials: not the person's fault, and not fixed by retrying.
    const debug = await this.get<DebugToken>(
      `${base}/debug_token?${new URLSearchParams({ input_token: userToken, access_token: `${appId}|${appSecret}` })}`,
      () =>
        new ApiError(
          502,
          'provider_misconfigured',
          'Facebook refused this server’s app credentials; the operator must check FACEBOOK_APP_ID and FACEBOOK_APP_SECRET.',
        ),
    );
    const data = debug.data;
    if (!data?.is_valid) throw rejected('Facebook', 'the token is not valid');
    if (data.app_id !== appId) throw rejected('Facebook', 'the token was issued to another app');
    if (data.expires_at && data.expires_at * 1000 < Date.now())
      throw rejected('Facebook', 'the token has expired');
    const profile = await this.get<Profile>(
      `${base}/me?${new URLSearchParams({ fields: 'id,name,email', access_token: userToken })}`,
    );
    if (!profile.id || profile.id !== data.user_id)
      throw rejected('Facebook', 'the profile does not match the token');
    return {
      provider: 'facebook',
      subject: profile.id,
      // Facebook only returns addresses it has confirmed.
      email: profile.email?.toLowerCase() ?? null,
      emailVerified: Boolean(profile.email),
      name: profile.name ?? '',
    };
  }

  private async get<T>(url: string, refused?: () => ApiError): Promise<T> {
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    } catch {
      throw new ApiError(502, 'provider_unavailable', 'Could not reach Facebook; try again.');
    }
    if (res.status >= 500)
      throw new ApiError(502, 'provider_unavailable', `Facebook answered ${res.status}; try again.`);
    const body = (await res.json().catch(() => ({}))) as T & { error?: { message?: string } };
    if (!res.ok) throw refused?.() ?? rejected('Facebook', body.error?.message ?? `status ${res.status}`);
    return body;
  }
}
