import type { Me, Session } from '@tickets/sdk';
import type { Command } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { askFor, type Factory, factoryOf } from '../factory.js';
import { examples } from '../help.js';
import { io } from '../io.js';
import { readStdin } from '../prompt.js';

export interface SignupOptions {
  email?: string;
  name?: string;
  password?: string;
  passwordStdin?: boolean;
  orgName?: string;
  invitation?: string;
  apiUrl?: string;
}

/** What `tickets login` was asked to do, once its flags are read. */
export interface LoginOptions {
  email?: string;
  password?: string;
  passwordStdin: boolean;
  /** --api-key: log in with a key (tk_…) instead of a password. */
  apiKey?: string;
  apiUrl?: string;
  /** --org: the organization to act in when the user belongs to several. */
  org?: string;
}

export type LogoutOptions = Record<string, never>;

export type WhoamiOptions = Record<string, never>;

type Run<O> = (f: Factory, o: O) => Promise<number>;

/** What --json shows for a new session: who and where, never the tokens. */
const sessionView = (s: Session) => ({ user: s.user, organization: s.organization, role: s.role });

/** --password, or stdin with --password-stdin, or asked on a terminal (not echoed). */
async function password(f: Factory, o: { password?: string; passwordStdin?: boolean }): Promise<string> {
  if (o.password && o.passwordStdin) throw new UsageError('use either --password or --password-stdin');
  const typed = o.passwordStdin ? await readStdin(f.io.stdin) : o.password;
  return askFor(f, typed, { flag: '--password', message: 'Password', secret: true });
}

/** --api-url, else the profile's (or $TICKETS_API_URL), as a URL without a trailing slash. */
export async function apiUrlFor(ctx: Context, flag: string | undefined): Promise<string> {
  const url = flag ?? (await ctx.apiUrl()).url;
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--api-url: "${url}" is not an http(s) URL`);
  return url.replace(/\/+$/, '');
}

/**
 * Which server to sign up on: --api-url, else $TICKETS_API_URL or the profile's; else, on a terminal,
 * asked (Enter takes the local server); else the local server.
 */
async function signupServer(f: Factory, flag: string | undefined): Promise<string> {
  const known = await f.ctx.apiUrl();
  if (flag !== undefined || known.source !== 'default' || !f.prompter.interactive)
    return apiUrlFor(f.ctx, flag);
  const url = await f.prompter.input('Which tickets server? (Enter: one running on this machine)', {
    default: known.url,
    validate: (v) => /^https?:\/\/[^/]/.test(v.trim()) || 'An http(s) URL, e.g. https://tickets.example.com',
  });
  return apiUrlFor(f.ctx, url.trim());
}

/** `tickets signup`: a new account (and organization, or the inviting one), saved in the profile. */
export async function signupRun(f: Factory, o: SignupOptions): Promise<number> {
  if (o.invitation && o.orgName)
    throw new UsageError('--invitation joins an organization: leave out --org-name');
  const apiUrl = await signupServer(f, o.apiUrl);
  const email = await askFor(f, o.email, { flag: '--email', message: 'E-mail' });
  const name = await askFor(f, o.name, { flag: '--name', message: 'Your name' });
  const pass = await password(f, o);
  const client = await f.ctx.anonymousClient(apiUrl);
  const session = await f.out.spin(
    'Creating your account…',
    client.auth.register({
      email,
      name,
      password: pass,
      ...(o.invitation ? { invitation: o.invitation } : { organization_name: o.orgName }),
    }),
  );
  await f.out.result(sessionView(session), () =>
    f.out.success(
      `Signed up as ${session.user.email}, ${session.role} of ${session.organization.name} (${session.organization.id}) on ${apiUrl}.`,
    ),
  );
  return EXIT.ok;
}

export function registerAuth(program: Command): void {
  newSignupCommand(program);
  newLoginCommand(program);
  newLogoutCommand(program);
  newWhoamiCommand(program);
}

/** `tickets signup`: its flags become SignupOptions for `run` (signupRun). */
export function newSignupCommand(program: Command, run: Run<SignupOptions> = signupRun): Command {
  const command = program
    .command('signup')
    .description('Create an account and an organization, and log in to it')
    .option('--email <email>', 'your e-mail address')
    .option('--name <name>', 'your name')
    .option('--password <password>', 'at least 10 characters (prefer the prompt or --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--org-name <name>', 'name of your organization (default: "<name>\'s events")')
    .option(
      '--invitation <token>',
      "an invitation's token: join that organization (and make none of your own)",
    )
    .option('--api-url <url>', 'the tickets server (saved in the profile; asked on a terminal)')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const options: SignupOptions = {
        email: flags.email as string | undefined,
        name: flags.name as string | undefined,
        password: flags.password as string | undefined,
        passwordStdin: Boolean(flags.passwordStdin),
        orgName: flags.orgName as string | undefined,
        invitation: flags.invitation as string | undefined,
        apiUrl: flags.apiUrl as string | undefined,
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets signup',
    'tickets signup --email ann@example.com --name "Ann Organizer" --org-name "Blue Note" --password-stdin < pw.txt',
    'tickets signup --invitation inv_… --email sam@example.com --name "Sam Staff"',
  );
}

/** `tickets login`: its flags become LoginOptions for `run` (loginRun). */
export function newLoginCommand(program: Command, run: Run<LoginOptions> = loginRun): Command {
  const command = program
    .command('login')
    .description('Log in with your e-mail and password, or with an API key; saved in the profile')
    .option('--email <email>', 'your e-mail address')
    .option('--password <password>', 'your password (prefer the prompt or --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--api-key <key>', 'an API key (tk_…) instead of a password')
    .option('--api-url <url>', 'the tickets server (saved in the profile)')
    .option('--org <id>', 'act in this organization (org_…) when you belong to several')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const options: LoginOptions = {
        email: flags.email as string | undefined,
        password: flags.password as string | undefined,
        passwordStdin: Boolean(flags.passwordStdin),
        apiKey: flags.apiKey as string | undefined,
        apiUrl: flags.apiUrl as string | undefined,
        org: flags.org as string | undefined,
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets login',
    'tickets login --email ann@example.com --password-stdin < pw.txt',
    'tickets login --api-key tk_… --api-url https://tickets.example.com',
    'tickets --profile staging login --api-url https://staging.example.com',
  );
}

/**
 * Logs in with an API key (checked with the server, then kept in the profile), or with an e-mail and
 * password (asked on a terminal; the session is kept in the profile).
 */
export async function loginRun(f: Factory, o: LoginOptions): Promise<number> {
  const { ctx, out } = f;
  const apiUrl = await apiUrlFor(ctx, o.apiUrl);
  if (o.apiKey) {
    if (o.email || o.password || o.passwordStdin)
      throw new UsageError('use either --api-key or --email and --password');
    if (o.org) throw new UsageError('--org does not apply to an API key: a key belongs to one organization');
    const client = await ctx.newClient(apiUrl, { token: o.apiKey });
    const me = await out.spin('Checking the key…', client.me.get());
    const store = await ctx.store();
    store.update(await ctx.profileName(), {
      api_url: apiUrl,
      api_key: o.apiKey,
      access_token: undefined,
      refresh_token: undefined,
      user_email: undefined,
      organization_id: me.organization.id,
      organization_name: me.organization.name,
    });
    await out.result(me, () =>
      out.success(
        `Logged in to ${me.organization.name} (${me.organization.id}) with API key "${me.api_key?.name}".`,
      ),
    );
    return EXIT.ok;
  }
  const email = await askFor(f, o.email, { flag: '--email', message: 'E-mail' });
  const pass = await password(f, o);
  const client = await ctx.anonymousClient(apiUrl);
  const session = await out.spin(
    'Logging in…',
    client.auth.login({ email, password: pass, organization_id: o.org }),
  );
  await out.result(sessionView(session), () =>
    out.success(
      `Logged in as ${session.user.email}, ${session.role} of ${session.organization.name} (${session.organization.id}).`,
    ),
  );
  return EXIT.ok;
}

/** `tickets logout`. */
export function newLogoutCommand(program: Command, run: Run<LogoutOptions> = logoutRun): Command {
  const command = program
    .command('logout')
    .description("End the profile's session on the server and forget its credentials")
    .action(async (_flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {});
    });
  return examples(command, 'tickets logout', 'tickets --profile staging logout');
}

/** Ends the profile's session on the server (when it has one) and forgets its credentials. */
export async function logoutRun(f: Factory, _o: LogoutOptions): Promise<number> {
  const { ctx, out } = f;
  const store = await ctx.store();
  const name = await ctx.profileName();
  const profile = await ctx.profile();
  if (!profile.access_token && !profile.refresh_token && !profile.api_key) {
    await out.result({ profile: name, logged_out: false }, () =>
      out.info(`Not logged in (profile "${name}").`),
    );
    return EXIT.ok;
  }
  let revoked = false;
  if (profile.refresh_token) {
    try {
      const client = await ctx.newClient((await ctx.apiUrl()).url, {});
      await out.spin('Logging out…', client.auth.logout(profile.refresh_token));
      revoked = true;
    } catch (err) {
      out.warn(`Could not end the session on the server: ${(err as Error).message}`);
    }
  }
  store.update(name, {
    access_token: undefined,
    refresh_token: undefined,
    api_key: undefined,
    user_email: undefined,
    organization_id: undefined,
    organization_name: undefined,
  });
  await out.result({ profile: name, logged_out: true, session_revoked: revoked }, () =>
    out.success(
      profile.api_key
        ? `Forgot the API key of profile "${name}" (it still works until revoked: tickets api-keys revoke).`
        : `Logged out (profile "${name}").`,
    ),
  );
  return EXIT.ok;
}

/** `tickets whoami`. */
export function newWhoamiCommand(program: Command, run: Run<WhoamiOptions> = whoamiRun): Command {
  const command = program
    .command('whoami')
    .description('Show who you are logged in as, and in which organization')
    .action(async (_flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {});
    });
  return examples(command, 'tickets whoami', 'tickets whoami --json');
}

/** Who the credentials are, in which organization, on which server and profile. */
export async function whoamiRun(f: Factory, _o: WhoamiOptions): Promise<number> {
  const client = await f.client();
  const me = await f.out.spin('Asking the server…', client.me.get());
  await f.out.result(me, (m) => showMe(f, m));
  return EXIT.ok;
}

async function showMe(f: Factory, me: Me): Promise<void> {
  const { ctx } = f;
  const others = me.memberships.filter((m) => m.organization.id !== me.organization.id);
  f.out.details([
    ['User', me.user ? `${me.user.name} <${me.user.email}> (${me.user.id})` : undefined],
    [
      'API key',
      me.api_key
        ? `${me.api_key.name} (${me.api_key.id}), scopes: ${me.api_key.scopes.join(', ')}`
        : undefined,
    ],
    ['Organization', `${me.organization.name} (${me.organization.id})`],
    ['Role', me.role],
    [
      'Also member of',
      others.map((m) => `${m.organization.name} (${m.organization.id}, ${m.role})`).join('; '),
    ],
    ['Server', (await ctx.apiUrl()).url],
    ['Profile', await ctx.profileName()],
  ]);
}
