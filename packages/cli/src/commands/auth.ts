import type { Me, Session } from '@tickets/sdk';
import type { Command } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { type Factory, factoryOf } from '../factory.js';
import { examples } from '../help.js';
import { io } from '../io.js';
import { ask, readStdin } from '../prompt.js';

export interface SignupOptions {
  email?: string;
  name?: string;
  password?: string;
  passwordStdin?: boolean;
  orgName?: string;
  invitation?: string;
  apiUrl?: string;
}

interface LoginOptions {
  email?: string;
  password?: string;
  passwordStdin?: boolean;
  apiKey?: string;
  apiUrl?: string;
  org?: string;
}

/** What --json shows for a new session: who and where, never the tokens. */
const sessionView = (s: Session) => ({ user: s.user, organization: s.organization, role: s.role });

async function password(o: { password?: string; passwordStdin?: boolean }): Promise<string> {
  if (o.password && o.passwordStdin) throw new UsageError('use either --password or --password-stdin');
  const typed = o.passwordStdin ? await readStdin() : o.password;
  return ask(typed, { flag: '--password', message: 'Password', secret: true });
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
  const email = await ask(o.email, { flag: '--email', message: 'E-mail' });
  const name = await ask(o.name, { flag: '--name', message: 'Your name' });
  const pass = await password(o);
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
  examples(
    program
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
      .action(async (o: SignupOptions, cmd: Command) => {
        io().exitCode = await signupRun(factoryOf(Context.of(cmd)), o);
      }),
    'tickets signup',
    'tickets signup --email ann@example.com --name "Ann Organizer" --org-name "Blue Note" --password-stdin < pw.txt',
    'tickets signup --invitation inv_… --email sam@example.com --name "Sam Staff"',
  );

  examples(
    program
      .command('login')
      .description('Log in with your e-mail and password, or with an API key; saved in the profile')
      .option('--email <email>', 'your e-mail address')
      .option('--password <password>', 'your password (prefer the prompt or --password-stdin)')
      .option('--password-stdin', 'read the password from stdin')
      .option('--api-key <key>', 'an API key (tk_…) instead of a password')
      .option('--api-url <url>', 'the tickets server (saved in the profile)')
      .option('--org <id>', 'act in this organization (org_…) when you belong to several')
      .action(async (o: LoginOptions, cmd: Command) => {
        const ctx = Context.of(cmd);
        const apiUrl = await apiUrlFor(ctx, o.apiUrl);
        if (o.apiKey) {
          if (o.email || o.password || o.passwordStdin)
            throw new UsageError('use either --api-key or --email and --password');
          if (o.org)
            throw new UsageError('--org does not apply to an API key: a key belongs to one organization');
          const client = await ctx.newClient(apiUrl, { token: o.apiKey });
          const me = await ctx.out.spin('Checking the key…', client.me.get());
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
          await ctx.out.result(me, () =>
            ctx.out.success(
              `Logged in to ${me.organization.name} (${me.organization.id}) with API key "${me.api_key?.name}".`,
            ),
          );
          return;
        }
        const email = await ask(o.email, { flag: '--email', message: 'E-mail' });
        const pass = await password(o);
        const client = await ctx.anonymousClient(apiUrl);
        const session = await ctx.out.spin(
          'Logging in…',
          client.auth.login({ email, password: pass, organization_id: o.org }),
        );
        await ctx.out.result(sessionView(session), () =>
          ctx.out.success(
            `Logged in as ${session.user.email}, ${session.role} of ${session.organization.name} (${session.organization.id}).`,
          ),
        );
      }),
    'tickets login',
    'tickets login --email ann@example.com --password-stdin < pw.txt',
    'tickets login --api-key tk_… --api-url https://tickets.example.com',
    'tickets --profile staging login --api-url https://staging.example.com',
  );

  examples(
    program
      .command('logout')
      .description("End the profile's session on the server and forget its credentials")
      .action(async (_o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const store = await ctx.store();
        const name = await ctx.profileName();
        const profile = await ctx.profile();
        if (!profile.access_token && !profile.refresh_token && !profile.api_key) {
          await ctx.out.result({ profile: name, logged_out: false }, () =>
            ctx.out.info(`Not logged in (profile "${name}").`),
          );
          return;
        }
        let revoked = false;
        if (profile.refresh_token) {
          try {
            const client = await ctx.newClient((await ctx.apiUrl()).url, {});
            await ctx.out.spin('Logging out…', client.auth.logout(profile.refresh_token));
            revoked = true;
          } catch (err) {
            ctx.out.warn(`Could not end the session on the server: ${(err as Error).message}`);
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
        await ctx.out.result({ profile: name, logged_out: true, session_revoked: revoked }, () =>
          ctx.out.success(
            profile.api_key
              ? `Forgot the API key of profile "${name}" (it still works until revoked: tickets api-keys revoke).`
              : `Logged out (profile "${name}").`,
          ),
        );
      }),
    'tickets logout',
    'tickets --profile staging logout',
  );

  examples(
    program
      .command('whoami')
      .description('Show who you are logged in as, and in which organization')
      .action(async (_o: unknown, cmd: Command) => {
        const ctx = Context.of(cmd);
        const client = await ctx.client();
        const me = await ctx.out.spin('Asking the server…', client.me.get());
        await ctx.out.result(me, (m) => showMe(ctx, m));
      }),
    'tickets whoami',
    'tickets whoami --json',
  );
}

async function showMe(ctx: Context, me: Me): Promise<void> {
  const others = me.memberships.filter((m) => m.organization.id !== me.organization.id);
  ctx.out.details([
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
