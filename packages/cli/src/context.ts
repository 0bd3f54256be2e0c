import type { Session, Tickets } from '@tickets/sdk';
import type { Command } from 'commander';
import { ConfigStore, DEFAULT_API_URL, DEFAULT_PROFILE, type Profile } from './config.js';
import { NotLoggedInError } from './errors.js';
import { io } from './io.js';
import { Output } from './output.js';

export const VERSION = '0.1.0';

const contexts = new WeakMap<object, Context>();

export interface GlobalOptions {
  json?: boolean;
  color: boolean;
  profile?: string;
}

export type Credential = { kind: 'api_key'; source: 'env' | 'profile' } | { kind: 'session' } | null;

/** One invocation: its global options, output, profile and API client. */
export class Context {
  /** The context of the running command, for error reporting after it fails (one per invocation). */
  static get current(): Context | undefined {
    return contexts.get(io());
  }

  readonly out: Output;
  /** The running command's long flags, to name the one behind a field the API refused. */
  flags: string[] = [];
  /** Set once a client with stored credentials exists: a 401 then means "log in again". */
  authenticated = false;
  private storePromise: Promise<ConfigStore> | undefined;

  constructor(
    readonly options: GlobalOptions,
    /** e.g. `tickets events create`, for "see --help" hints. */
    readonly commandPath = 'tickets',
  ) {
    // Prompts and spinners decide on colour by themselves, and all honour NO_COLOR.
    if (!options.color) io().env.NO_COLOR = '1';
    this.out = new Output({ json: Boolean(options.json), color: options.color });
  }

  static of(command: Command): Context {
    const names: string[] = [];
    for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
    const ctx = new Context(command.optsWithGlobals<GlobalOptions>(), names.join(' '));
    ctx.flags = command.options.map((o) => o.long).filter((l): l is string => Boolean(l));
    contexts.set(io(), ctx);
    return ctx;
  }

  store(): Promise<ConfigStore> {
    this.storePromise ??= ConfigStore.open();
    return this.storePromise;
  }

  /** --profile, else $TICKETS_PROFILE, else the one chosen with `tickets config use`. */
  async profileName(): Promise<string> {
    return (
      this.options.profile || io().env.TICKETS_PROFILE || (await this.store()).currentName || DEFAULT_PROFILE
    );
  }

  async profile(): Promise<Profile> {
    return (await this.store()).profile(await this.profileName()) ?? {};
  }

  /** $TICKETS_API_URL, else the profile's, else a local server's default address. */
  async apiUrl(): Promise<{ url: string; source: 'env' | 'profile' | 'default' }> {
    const fromEnv = io().env.TICKETS_API_URL;
    if (fromEnv) return { url: fromEnv, source: 'env' };
    const fromProfile = (await this.profile()).api_url;
    return fromProfile
      ? { url: fromProfile, source: 'profile' }
      : { url: DEFAULT_API_URL, source: 'default' };
  }

  async credential(): Promise<Credential> {
    if (io().env.TICKETS_API_KEY) return { kind: 'api_key', source: 'env' };
    const profile = await this.profile();
    if (profile.api_key) return { kind: 'api_key', source: 'profile' };
    if (profile.access_token || profile.refresh_token) return { kind: 'session' };
    return null;
  }

  /** A client acting with the profile's credentials; renewed tokens are saved back to the profile. */
  async client(): Promise<Tickets> {
    const [profile, { url }, name] = await Promise.all([this.profile(), this.apiUrl(), this.profileName()]);
    const apiKey = io().env.TICKETS_API_KEY || profile.api_key;
    if (!apiKey && !profile.access_token && !profile.refresh_token)
      throw new NotLoggedInError(`not logged in (profile "${name}", ${url})`);
    this.authenticated = true;
    if (apiKey) return this.newClient(url, { token: apiKey });
    return this.newClient(url, {
      token: profile.access_token,
      refreshToken: profile.refresh_token,
      onSession: (session) => this.saveSession(session),
    });
  }

  /** A client without credentials, for signing up or in; the session it obtains is saved. */
  async anonymousClient(apiUrl: string): Promise<Tickets> {
    return this.newClient(apiUrl, { onSession: (session) => this.saveSession(session, apiUrl) });
  }

  async newClient(
    baseUrl: string,
    options: { token?: string; refreshToken?: string; onSession?: (s: Session) => Promise<void> },
  ): Promise<Tickets> {
    // The SDK brings zod and the whole contract; `tickets --version` should not pay for it.
    const { Tickets } = await import('@tickets/sdk');
    return new Tickets({ baseUrl, userAgent: `tickets-cli/${VERSION}`, ...options });
  }

  private async saveSession(session: Session, apiUrl?: string): Promise<void> {
    const store = await this.store();
    store.update(await this.profileName(), {
      ...(apiUrl ? { api_url: apiUrl } : {}),
      access_token: session.access_token,
      refresh_token: session.refresh_token,
      api_key: undefined,
      user_email: session.user.email,
      organization_id: session.organization.id,
      organization_name: session.organization.name,
    });
  }
}
