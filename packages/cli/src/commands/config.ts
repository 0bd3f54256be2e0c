import { Argument, type Command } from 'commander';
import { GLOBAL_KEYS, PROFILE_KEYS, type Profile, redact, type SettableKey } from '../config.js';
import { Context } from '../context.js';
import { CliError, EXIT, UsageError } from '../errors.js';
import { type Factory, factoryOf } from '../factory.js';
import { examples } from '../help.js';
import { io } from '../io.js';

/** How a profile authenticates, without its secrets. */
function profileView(name: string, p: Profile, current: string) {
  return {
    name,
    current: name === current,
    api_url: p.api_url ?? null,
    auth: p.api_key ? 'api_key' : p.access_token || p.refresh_token ? 'session' : null,
    user_email: p.user_email ?? null,
    organization_id: p.organization_id ?? null,
    organization_name: p.organization_name ?? null,
    api_key: redact(p.api_key) ?? null,
    door_event: p.door_event ?? null,
  };
}

const authLabel = (v: ReturnType<typeof profileView>) =>
  v.auth === 'api_key'
    ? `API key ${v.api_key}`
    : v.auth === 'session'
      ? (v.user_email ?? 'session')
      : 'not logged in';

type Run<O> = (f: Factory, o: O) => Promise<number>;

export type ConfigListOptions = Record<string, never>;

export interface ConfigUseOptions {
  profile: string;
}

export interface ConfigSetOptions {
  key: SettableKey;
  value: string;
}

export interface ConfigRemoveOptions {
  profile: string;
}

export type ConfigShowOptions = Record<string, never>;

/** `tickets config`: the group and each of its commands. */
export function registerConfig(program: Command): void {
  const config = program.command('config').description('Manage profiles: which server, which credentials');
  examples(config, 'tickets config list', 'tickets config use staging');
  newConfigListCommand(config);
  newConfigUseCommand(config);
  newConfigSetCommand(config);
  newConfigRemoveCommand(config);
  newConfigShowCommand(config);
}

/** `tickets config list`. */
export function newConfigListCommand(config: Command, run: Run<ConfigListOptions> = configListRun): Command {
  const command = config
    .command('list')
    .description('List profiles; * marks the one in use')
    .action(async (_flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {});
    });
  return examples(command, 'tickets config list', 'tickets config list --json');
}

export async function configListRun(f: Factory, _o: ConfigListOptions): Promise<number> {
  const { out } = f;
  const store = await f.ctx.store();
  const current = await f.ctx.profileName();
  const views = Object.entries(store.profiles()).map(([name, p]) => profileView(name, p, current));
  await out.result(views, async () => {
    if (views.length === 0) out.info('No profiles yet: run `tickets login` or `tickets signup`.');
    await out.table(
      ['', 'PROFILE', 'SERVER', 'LOGGED IN AS', 'ORGANIZATION'],
      views.map((v) => [
        v.current ? '*' : '',
        v.name,
        v.api_url,
        authLabel(v),
        v.organization_name ? `${v.organization_name} (${v.organization_id})` : '',
      ]),
    );
  });
  return EXIT.ok;
}

/** `tickets config use <profile>`. */
export function newConfigUseCommand(config: Command, run: Run<ConfigUseOptions> = configUseRun): Command {
  const command = config
    .command('use')
    .description('Make a profile the default for later commands')
    .argument('<profile>', 'profile name')
    .action(async (profile: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { profile });
    });
  return examples(command, 'tickets config use staging');
}

export async function configUseRun(f: Factory, o: ConfigUseOptions): Promise<number> {
  const name = o.profile;
  const store = await f.ctx.store();
  if (!store.profile(name))
    throw new CliError(
      `no profile named "${name}"; create it with: tickets --profile ${name} login --api-url <url>`,
    );
  store.use(name);
  await f.out.result(profileView(name, store.profile(name)!, name), () =>
    f.out.success(`Now using profile "${name}".`),
  );
  return EXIT.ok;
}

/** `tickets config set <key> <value>`. */
export function newConfigSetCommand(config: Command, run: Run<ConfigSetOptions> = configSetRun): Command {
  const command = config
    .command('set')
    .description('Set a value in the profile in use (created if new)')
    .addArgument(new Argument('<key>', 'setting').choices([...PROFILE_KEYS, ...GLOBAL_KEYS]))
    .argument('<value>', 'new value')
    .action(async (key: SettableKey, value: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { key, value });
    });
  return examples(
    command,
    'tickets config set api_url https://tickets.example.com',
    'tickets --profile door config set api_key tk_…',
    'tickets --profile door config set door_event evt_…',
    'tickets config set telemetry on      # send the CLI’s own crash reports (off by default)',
  );
}

export async function configSetRun(f: Factory, o: ConfigSetOptions): Promise<number> {
  const { key, value } = o;
  const store = await f.ctx.store();
  if (key === 'telemetry') {
    if (value !== 'on' && value !== 'off')
      throw new UsageError(`telemetry: "${value}" is neither on nor off`);
    store.telemetry = value === 'on';
    const dsn = io().env.TICKETS_TELEMETRY_DSN;
    await f.out.result({ telemetry: value, dsn: dsn ?? null }, () =>
      f.out.success(
        value === 'off'
          ? 'Crash reports are off.'
          : dsn
            ? 'Crash reports of the CLI itself (never API or usage errors) will be sent, with secrets removed, to TICKETS_TELEMETRY_DSN.'
            : 'Crash reports are on, but TICKETS_TELEMETRY_DSN is not set, so none can be sent yet.',
      ),
    );
    return EXIT.ok;
  }
  const name = await f.ctx.profileName();
  if (key === 'api_url' && !/^https?:\/\/[^/]/.test(value))
    throw new UsageError(`api_url: "${value}" is not an http(s) URL`);
  if (key === 'door_event' && !/^evt_\w+$/.test(value) && value !== 'none')
    throw new UsageError(`door_event: "${value}" is not an event id (evt_…; "none" clears it)`);
  const changes: Partial<Profile> =
    key === 'api_url'
      ? { api_url: value.replace(/\/+$/, '') }
      : key === 'door_event'
        ? { door_event: value === 'none' ? undefined : value }
        : // A profile holds a key or a session, never both.
          { api_key: value, access_token: undefined, refresh_token: undefined, user_email: undefined };
  const profile = store.update(name, changes);
  await f.out.result(profileView(name, profile, await f.ctx.profileName()), () =>
    f.out.success(`Set ${key} in profile "${name}".`),
  );
  return EXIT.ok;
}

/** `tickets config remove <profile>`. */
export function newConfigRemoveCommand(
  config: Command,
  run: Run<ConfigRemoveOptions> = configRemoveRun,
): Command {
  const command = config
    .command('remove')
    .description(
      'Delete a profile and its stored credentials (run `tickets logout` first to end its session)',
    )
    .argument('<profile>', 'profile name')
    .action(async (profile: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { profile });
    });
  return examples(command, 'tickets config remove staging');
}

export async function configRemoveRun(f: Factory, o: ConfigRemoveOptions): Promise<number> {
  const name = o.profile;
  const store = await f.ctx.store();
  if (!store.remove(name)) throw new CliError(`no profile named "${name}"`);
  await f.out.result({ name, deleted: true }, () => f.out.success(`Removed profile "${name}".`));
  return EXIT.ok;
}

/** `tickets config show`. */
export function newConfigShowCommand(config: Command, run: Run<ConfigShowOptions> = configShowRun): Command {
  const command = config
    .command('show')
    .description('Show the profile in use and where each setting comes from')
    .action(async (_flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {});
    });
  return examples(command, 'tickets config show', 'tickets --profile staging config show --json');
}

/** The profile in use, and where its server and credential come from. */
export async function configShowRun(f: Factory, _o: ConfigShowOptions): Promise<number> {
  const { ctx, out } = f;
  const store = await ctx.store();
  const name = await ctx.profileName();
  const api = await ctx.apiUrl();
  const credential = await ctx.credential();
  const view = {
    ...profileView(name, store.profile(name) ?? {}, name),
    api_url: api.url,
    api_url_source: api.source,
    auth: credential?.kind ?? null,
    auth_source: credential ? ('source' in credential ? credential.source : 'profile') : null,
    config_file: store.path,
  };
  if (credential?.kind === 'api_key' && credential.source === 'env')
    view.api_key = redact(f.io.env.TICKETS_API_KEY) ?? null;
  await out.result(view, (v) =>
    out.details([
      ['Profile', v.name],
      [
        'Server',
        `${v.api_url}${v.api_url_source === 'profile' ? '' : ` (from ${v.api_url_source === 'env' ? 'TICKETS_API_URL' : 'default'})`}`,
      ],
      ['Logged in as', `${authLabel(v)}${v.auth_source === 'env' ? ' (from TICKETS_API_KEY)' : ''}`],
      ['Organization', v.organization_name ? `${v.organization_name} (${v.organization_id})` : undefined],
      ['Door event', v.door_event],
      ['Config file', v.config_file],
    ]),
  );
  return EXIT.ok;
}
