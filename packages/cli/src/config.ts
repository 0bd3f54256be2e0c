import type Conf from 'conf';
import { io } from './io.js';

/** One server and the credentials for it. A profile holds a session (tokens) or an API key, not both. */
export interface Profile {
  api_url?: string;
  access_token?: string;
  refresh_token?: string;
  api_key?: string;
  /** Shown by `config list`; not used to authenticate. */
  user_email?: string;
  organization_id?: string;
  organization_name?: string;
  /** This machine's scanner id for `tickets validate`, generated once; not a credential. */
  device_id?: string;
  /** The event this device's door scans for (`tickets validate` refuses other events' tickets). */
  door_event?: string;
}

interface StoredConfig {
  current_profile: string;
  profiles: Record<string, Profile>;
  /** Crash reports of the CLI itself (off unless the user turns them on; this machine, every profile). */
  telemetry?: 'on' | 'off';
}

export const DEFAULT_PROFILE = 'default';
export const DEFAULT_API_URL = 'http://127.0.0.1:3000';
export const PROFILE_KEYS = ['api_url', 'api_key', 'door_event'] as const;
/** Settings of the machine rather than of a profile. */
export const GLOBAL_KEYS = ['telemetry'] as const;
export type SettableKey = (typeof PROFILE_KEYS)[number] | (typeof GLOBAL_KEYS)[number];

/**
 * Profiles on disk, like stripe-cli's: `~/.config/tickets/config.json` (XDG), or `$TICKETS_CONFIG_DIR`.
 * The file holds secrets, so it is written readable by its owner only.
 */
export class ConfigStore {
  private constructor(private readonly conf: Conf<StoredConfig>) {}

  static async open(): Promise<ConfigStore> {
    // conf pulls in a JSON-schema validator; loaded only by commands that need profiles.
    const { default: Conf } = await import('conf');
    const conf = new Conf<StoredConfig>({
      projectName: 'tickets',
      projectSuffix: '',
      cwd: io().env.TICKETS_CONFIG_DIR || undefined,
      configFileMode: 0o600,
      // Profile names may contain dots; never treat them as paths.
      accessPropertiesByDotNotation: false,
      defaults: { current_profile: DEFAULT_PROFILE, profiles: {} },
    });
    return new ConfigStore(conf);
  }

  get path(): string {
    return this.conf.path;
  }

  /** Whether the user opted in to crash reports (`tickets config set telemetry on`). */
  get telemetry(): boolean {
    return this.conf.get('telemetry') === 'on';
  }

  set telemetry(on: boolean) {
    this.conf.set('telemetry', on ? 'on' : 'off');
  }

  get currentName(): string {
    return this.conf.get('current_profile') || DEFAULT_PROFILE;
  }

  profiles(): Record<string, Profile> {
    return { ...this.conf.get('profiles') };
  }

  profile(name: string): Profile | undefined {
    return this.profiles()[name];
  }

  /** Merges changes into a profile (creating it); an `undefined` value removes that key. */
  update(name: string, changes: Partial<Profile>): Profile {
    const profiles = this.profiles();
    const merged: Profile = { ...profiles[name], ...changes };
    for (const key of Object.keys(merged) as (keyof Profile)[])
      if (merged[key] === undefined) delete merged[key];
    profiles[name] = merged;
    this.conf.set('profiles', profiles);
    return merged;
  }

  remove(name: string): boolean {
    const profiles = this.profiles();
    if (!(name in profiles)) return false;
    delete profiles[name];
    this.conf.set('profiles', profiles);
    if (this.currentName === name) this.conf.set('current_profile', DEFAULT_PROFILE);
    return true;
  }

  use(name: string): void {
    this.conf.set('current_profile', name);
  }
}

/** Enough of a secret to recognise it, never enough to use it. */
export function redact(secret: string | undefined): string | undefined {
  if (!secret) return undefined;
  return secret.length <= 16 ? '****' : `${secret.slice(0, 10)}…`; // the same prefix the API shows
}
