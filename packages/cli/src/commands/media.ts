import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { MediaAsset, MediaRole, MediaUploadParams, MediaUsage, Tickets } from '@tickets/sdk';
import type { ChalkInstance } from 'chalk';
import { type Command, Option } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { confirmFor, type Factory, factoryOf } from '../factory.js';
import { examples, limitOptions, listed, parse } from '../help.js';
import { io, type Terminal } from '../io.js';
import { type Output, printable } from '../output.js';

const ROLES = ['cover', 'gallery', 'logo', 'video'] as const satisfies readonly MediaRole[];

export interface MediaUploadOptions {
  /** A path, or `-` for stdin. */
  file: string;
  event?: string;
  role?: MediaRole;
  alt?: string;
  position?: number;
  /** The name the server sees (default: the file's; `stdin` for `-`). */
  filename?: string;
}

export interface MediaListOptions {
  event?: string;
  role?: MediaRole;
  limit: number;
  all: boolean;
}

export interface MediaShowOptions {
  id: string;
}

export interface MediaUpdateOptions {
  id: string;
  alt?: string;
  role?: MediaRole;
  position?: number;
}

export interface MediaDeleteOptions {
  id: string;
  yes: boolean;
}

export interface MediaFromUrlOptions {
  url: string;
  event?: string;
  role?: MediaRole;
  alt?: string;
  position?: number;
}

type Run<O> = (f: Factory, o: O) => Promise<number>;

/** Bytes as people read them: 812 B, 14.2 kB, 3.4 MB (powers of 1024, as the reports command says them). */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/**
 * A bar for the bytes of an upload, drawn in place on `stream` with `\r` — only on a terminal that
 * reports its width, and never when `quiet` (--json). `end()` clears it, so what follows starts clean.
 */
export function uploadProgress(
  stream: Terminal,
  style: ChalkInstance,
  label: string,
  quiet = false,
): { update(sent: number, total: number | null): void; end(): void } {
  const tty = !quiet && Boolean(stream.isTTY && stream.columns);
  const name = printable(label);
  let drawn = false;
  let last = 0;
  return {
    update(sent, total) {
      if (!tty) return;
      const now = Date.now();
      const done = total !== null && sent >= total;
      // At most a dozen redraws a second, but always the first and the last.
      if (drawn && !done && now - last < 80) return;
      last = now;
      let text: string;
      if (total === null) text = `${name} ${formatBytes(sent)} sent`;
      else {
        const ratio = total > 0 ? Math.min(1, sent / total) : 1;
        const width = Math.max(10, Math.min(30, (stream.columns ?? 80) - name.length - 34));
        const filled = Math.round(ratio * width);
        const bar = style.cyan(`${'█'.repeat(filled)}${'░'.repeat(width - filled)}`);
        const percent = `${Math.floor(ratio * 100)}%`.padStart(4);
        text = `${name} ${bar} ${percent} ${formatBytes(sent)} of ${formatBytes(total)}`;
        if (done) text += style.dim(' — the server is processing it');
      }
      stream.write(`\r${text}\x1b[K`);
      drawn = true;
    },
    end() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}

/** A path as typed again in a hint: quoted when the shell would split or expand it. */
export const shellWord = (text: string) =>
  /^[\w./@%+=:,-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;

/**
 * Checks that `file` can be read before anything is sent or created: a missing or unreadable file is a
 * usage error naming it. `-` is stdin, which must not be a terminal.
 */
export async function checkUploadFile(f: Factory, file: string, flag = 'the file'): Promise<void> {
  if (file === '-') {
    if (f.io.stdin.isTTY)
      throw new UsageError(
        `${flag} "-" reads stdin: pipe the file in, e.g. tickets media upload - < poster.jpg`,
      );
    return;
  }
  try {
    const info = await stat(file);
    if (!info.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    await (await open(file, 'r')).close();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is not a file'
          : code === 'EACCES'
            ? 'permission denied'
            : (err as Error).message;
    throw new UsageError(`cannot read ${flag} ${file}: ${why}`);
  }
}

/**
 * Uploads `file` (a path, or `-` for stdin, streamed) with a progress bar on a terminal; the file is
 * checked first (checkUploadFile).
 */
export async function uploadFile(
  f: Factory,
  client: Tickets,
  file: string,
  params: MediaUploadParams,
): Promise<MediaAsset> {
  await checkUploadFile(f, file);
  const stdin = file === '-';
  const label = `Uploading ${stdin ? (params.filename ?? 'stdin') : basename(file)}`;
  const bar = uploadProgress(f.io.stderr, f.out.errStyle, label, f.out.json);
  try {
    return await client.media.upload(
      stdin ? f.io.stdin : file,
      { ...params, filename: params.filename ?? (stdin ? 'stdin' : undefined) },
      { onProgress: bar.update },
    );
  } finally {
    bar.end();
  }
}

const PRESET_LABELS: Record<string, string> = {
  thumbnail: 'Thumbnail',
  card: 'Card',
  og: 'Open Graph',
  email: 'E-mail',
  full: 'Full size',
};

function statusLabel(out: Output, status: MediaAsset['status']): string {
  const colour = { ready: out.style.green, processing: out.style.yellow, failed: out.style.red };
  return colour[status](status);
}

/** `png 640×480`, `mp4 1920×1080 12.5 s`: what an asset is, in one cell. */
function kindOf(a: MediaAsset): string {
  return [
    a.format,
    a.width && a.height ? `${a.width}×${a.height}` : '',
    a.duration !== null ? `${a.duration.toFixed(1)} s` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/** The key/value view of one asset: what it is, and every URL it is delivered at (with `full`, srcset and video too). */
export async function showMedia(out: Output, a: MediaAsset, full = true): Promise<void> {
  const { formatDateTime, localZone } = await import('../time.js');
  out.details([
    ['ID', a.id],
    ['Event', a.event ?? '(the organization)'],
    ['Role', a.role],
    ['Position', a.position],
    ['Status', statusLabel(out, a.status)],
    ['Failure', a.failure_reason],
    ['Type', `${a.resource_type}, ${kindOf(a)}`],
    ['Size', formatBytes(a.bytes)],
    ['Alt', a.alt],
    ...(full
      ? ([
          ['Provider', `${a.provider} (${a.provider_id})`],
          ['Hash', a.hash],
          ['Created', out.tty ? formatDateTime(a.created_at, localZone()) : a.created_at],
        ] as [string, string][])
      : []),
    ...Object.entries(a.urls ?? {}).map(([name, url]): [string, string] => [
      PRESET_LABELS[name] ?? name,
      url,
    ]),
    ...(full
      ? ([
          ['Srcset', a.srcset],
          ['Sizes', a.sizes],
          ['Video', a.video?.original],
          ['MP4', a.video?.mp4],
          ['HLS', a.video?.hls],
          ['Poster', a.video?.poster],
        ] as [string, string | null | undefined][])
      : []),
    ['Notes', a.notes.join('; ')],
  ]);
}

/** Media as a table (on a terminal) or tab-separated lines. */
export async function mediaTable(out: Output, list: MediaAsset[]): Promise<void> {
  await out.table(
    ['ID', 'EVENT', 'ROLE', 'POS', 'STATUS', 'TYPE', 'SIZE', 'ALT'],
    list.map((a) => [
      a.id,
      a.event ?? '',
      a.role,
      a.position,
      statusLabel(out, a.status),
      kindOf(a),
      formatBytes(a.bytes),
      a.alt,
    ]),
  );
}

/** `tickets media`: the group and each of its commands. */
export function registerMedia(program: Command): void {
  const media = program
    .command('media')
    .description("Images and videos: events' covers and galleries, your logo; their URLs, storage used");
  examples(
    media,
    'tickets media upload poster.jpg --event evt_… --role cover --alt "The band on stage"',
    'tickets media list --event evt_…',
  );
  newMediaUploadCommand(media);
  newMediaFromUrlCommand(media);
  newMediaListCommand(media);
  newMediaShowCommand(media);
  newMediaUpdateCommand(media);
  newMediaDeleteCommand(media);
  newMediaUsageCommand(media);
  newMediaPresetsCommand(media);
}

const roleOption = (what: string) => new Option('--role <role>', what).choices(ROLES);
const POSITION = 'its place among the media of its role (0 first)';

/** `tickets media upload <file>`: its flags become MediaUploadOptions for `run` (mediaUploadRun). */
export function newMediaUploadCommand(
  media: Command,
  run: Run<MediaUploadOptions> = mediaUploadRun,
): Command {
  const command = media
    .command('upload')
    .description(
      'Upload an image or video (JPEG, PNG, WebP, AVIF, GIF, HEIC; MP4, MOV, WebM), streamed with a progress bar',
    )
    .argument('<file>', 'the file, or - to read it from stdin')
    .option(
      '--event <event>',
      'the event it belongs to (evt_…); none: the organization (a logo)',
      parse.id('evt', 'an event'),
    )
    .addOption(roleOption('what it is for (default gallery); a new cover replaces the old one'))
    .option('--alt <text>', 'alternative text, for people who cannot see the image')
    .option('--position <n>', POSITION, parse.int(0))
    .option('--filename <name>', "the file's name as the server sees it (default: its own; stdin for -)")
    .action(async (file: string, flags: Record<string, unknown>, cmd: Command) => {
      const options: MediaUploadOptions = {
        file,
        event: flags.event as string | undefined,
        role: flags.role as MediaRole | undefined,
        alt: flags.alt as string | undefined,
        position: flags.position as number | undefined,
        filename: flags.filename as string | undefined,
      };
      io().exitCode = await run(factoryOf(Context.of(cmd)), options);
    });
  return examples(
    command,
    'tickets media upload poster.jpg --event evt_… --role cover --alt "The band on stage"',
    'tickets media upload crowd.webp --event evt_… --position 2',
    'tickets media upload trailer.mp4 --event evt_… --role video --json',
    'curl -s https://example.com/logo.png | tickets media upload - --role logo --filename logo.png',
  );
}

export async function mediaUploadRun(f: Factory, o: MediaUploadOptions): Promise<number> {
  const client = await f.client();
  const asset = await uploadFile(f, client, o.file, {
    event: o.event,
    role: o.role,
    alt: o.alt,
    position: o.position,
    filename: o.filename,
  });
  await f.out.result(asset, async (a) => {
    f.out.success(
      `Uploaded ${printable(o.filename ?? (o.file === '-' ? 'stdin' : basename(o.file)))} as ${a.id}.`,
    );
    await showMedia(f.out, a, false);
  });
  return EXIT.ok;
}

/** `tickets media from-url <url>`. */
export function newMediaFromUrlCommand(
  media: Command,
  run: Run<MediaFromUrlOptions> = mediaFromUrlRun,
): Command {
  const command = media
    .command('from-url')
    .description('Add an image or video the provider fetches from an http(s) URL')
    .argument('<url>', 'where it is')
    .option('--event <event>', 'the event it belongs to (evt_…)', parse.id('evt', 'an event'))
    .addOption(roleOption('what it is for (default gallery)'))
    .option('--alt <text>', 'alternative text')
    .option('--position <n>', POSITION, parse.int(0))
    .action(async (url: string, flags: Record<string, unknown>, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {
        url,
        event: flags.event as string | undefined,
        role: flags.role as MediaRole | undefined,
        alt: flags.alt as string | undefined,
        position: flags.position as number | undefined,
      });
    });
  return examples(
    command,
    'tickets media from-url https://example.com/poster.jpg --event evt_… --role cover',
  );
}

export async function mediaFromUrlRun(f: Factory, o: MediaFromUrlOptions): Promise<number> {
  const client = await f.client();
  const asset = await f.out.spin(
    'Fetching…',
    client.media.fromUrl({ url: o.url, event: o.event, role: o.role, alt: o.alt, position: o.position }),
  );
  await f.out.result(asset, async (a) => {
    f.out.success(`Added ${a.id} from ${printable(o.url)}.`);
    await showMedia(f.out, a, false);
  });
  return EXIT.ok;
}

/** `tickets media list`. */
export function newMediaListCommand(media: Command, run: Run<MediaListOptions> = mediaListRun): Command {
  const command = limitOptions(media.command('list'), 50)
    .description('List media, newest first')
    .option('--event <event>', "only this event's (evt_…)", parse.id('evt', 'an event'))
    .addOption(roleOption('only media of this role'))
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {
        event: flags.event as string | undefined,
        role: flags.role as MediaRole | undefined,
        limit: flags.limit as number,
        all: Boolean(flags.all),
      });
    });
  return examples(
    command,
    'tickets media list',
    'tickets media list --event evt_… --role gallery',
    'tickets media list --all --json',
  );
}

export async function mediaListRun(f: Factory, o: MediaListOptions): Promise<number> {
  const client = await f.client();
  const list = await listed(
    f.ctx,
    'media',
    (limit) => client.media.list({ event: o.event, role: o.role, limit }),
    o,
  );
  await f.out.result(list, () => mediaTable(f.out, list));
  return EXIT.ok;
}

/** `tickets media show <id>`. */
export function newMediaShowCommand(media: Command, run: Run<MediaShowOptions> = mediaShowRun): Command {
  const command = media
    .command('show')
    .description('Show one asset: its preset URLs, srcset, video renditions and notes')
    .argument('<id>', 'the asset (med_…)', parse.id('med', 'a media'))
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id });
    });
  return examples(command, 'tickets media show med_…', 'tickets media show med_… --json');
}

export async function mediaShowRun(f: Factory, o: MediaShowOptions): Promise<number> {
  const client = await f.client();
  const asset = await f.out.spin('Loading…', client.media.get(o.id));
  await f.out.result(asset, (a) => showMedia(f.out, a));
  return EXIT.ok;
}

/** `tickets media update <id>`. */
export function newMediaUpdateCommand(
  media: Command,
  run: Run<MediaUpdateOptions> = mediaUpdateRun,
): Command {
  const command = media
    .command('update')
    .description('Change its alt text, role or position; what you leave out keeps its value')
    .argument('<id>', 'the asset (med_…)', parse.id('med', 'a media'))
    .option('--alt <text>', 'alternative text ("" clears it)')
    .addOption(roleOption('what it is for; making one the cover replaces the old cover'))
    .option('--position <n>', POSITION, parse.int(0))
    .action(async (id: string, flags: Record<string, unknown>, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {
        id,
        alt: flags.alt as string | undefined,
        role: flags.role as MediaRole | undefined,
        position: flags.position as number | undefined,
      });
    });
  return examples(
    command,
    'tickets media update med_… --alt "The crowd at midnight"',
    'tickets media update med_… --role cover',
    'tickets media update med_… --position 0 --json',
  );
}

export async function mediaUpdateRun(f: Factory, o: MediaUpdateOptions): Promise<number> {
  if (o.alt === undefined && o.role === undefined && o.position === undefined)
    throw new UsageError('nothing to change: give --alt, --role or --position');
  const client = await f.client();
  const asset = await f.out.spin(
    'Saving…',
    client.media.update(o.id, { alt: o.alt, role: o.role, position: o.position }),
  );
  await f.out.result(asset, async (a) => {
    f.out.success(`Updated ${a.id}.`);
    await showMedia(f.out, a, false);
  });
  return EXIT.ok;
}

/** `tickets media delete <id>`. */
export function newMediaDeleteCommand(
  media: Command,
  run: Run<MediaDeleteOptions> = mediaDeleteRun,
): Command {
  const command = media
    .command('delete')
    .description('Delete an asset, at the provider too (its URLs stop working)')
    .argument('<id>', 'the asset (med_…)', parse.id('med', 'a media'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(async (id: string, flags: { yes?: boolean }, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), { id, yes: Boolean(flags.yes) });
    });
  return examples(command, 'tickets media delete med_…', 'tickets media delete med_… --yes');
}

/** Deletes an asset, once confirmed (or with --yes). */
export async function mediaDeleteRun(f: Factory, o: MediaDeleteOptions): Promise<number> {
  const client = await f.client();
  let label = o.id;
  if (!o.yes && f.prompter.interactive) {
    const a = await f.out.spin('Loading…', client.media.get(o.id));
    label = `the ${a.role} ${a.id}${a.event ? ` of ${a.event}` : ''}${a.alt ? ` ("${printable(a.alt)}")` : ''}`;
  }
  await confirmFor(f, o.yes, `Delete ${label}? Its URLs stop working; this cannot be undone.`);
  const deleted = await f.out.spin('Deleting…', client.media.delete(o.id));
  await f.out.result(deleted, () => f.out.success(`Deleted ${label}.`));
  return EXIT.ok;
}

/** `tickets media usage`. */
export function newMediaUsageCommand(
  media: Command,
  run: Run<Record<string, never>> = mediaUsageRun,
): Command {
  const command = media
    .command('usage')
    .description("Storage used: assets and bytes in all and per event, and the provider account's usage")
    .action(async (_flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {});
    });
  return examples(command, 'tickets media usage', 'tickets media usage --json');
}

const count = (n: number | null) => (n === null ? '' : n.toLocaleString('en'));

export async function mediaUsageRun(f: Factory): Promise<number> {
  const client = await f.client();
  const usage = await f.out.spin('Loading…', client.media.usage());
  await f.out.result(usage, (u) => showUsage(f.out, u));
  return EXIT.ok;
}

async function showUsage(out: Output, u: MediaUsage): Promise<void> {
  const p = u.provider_usage;
  out.details([
    ['Provider', u.provider],
    ['Assets', count(u.assets)],
    ['Stored', formatBytes(u.bytes)],
    ...(p
      ? ([
          ['Plan', p.plan],
          ['Account storage', formatBytes(p.storage_bytes)],
          ['Bandwidth', formatBytes(p.bandwidth_bytes)],
          ['Transformations', count(p.transformations)],
          [
            'Credits',
            p.credits_used === null
              ? null
              : `${p.credits_used}${p.credits_limit === null ? '' : ` of ${p.credits_limit}`}`,
          ],
        ] as [string, string | null][])
      : []),
  ]);
  if (u.events.length === 0) return;
  out.line();
  await out.table(
    ['EVENT', 'ASSETS', 'SIZE'],
    u.events.map((e) => [e.event ?? '(the organization)', count(e.assets), formatBytes(e.bytes)]),
  );
}

/** `tickets media presets`. */
export function newMediaPresetsCommand(
  media: Command,
  run: Run<Record<string, never>> = mediaPresetsRun,
): Command {
  const command = media
    .command('presets')
    .description('The delivery presets every image answers with (sizes, crops), and the srcset widths')
    .action(async (_flags: unknown, cmd: Command) => {
      io().exitCode = await run(factoryOf(Context.of(cmd)), {});
    });
  return examples(command, 'tickets media presets', 'tickets media presets --json');
}

export async function mediaPresetsRun(f: Factory): Promise<number> {
  const client = await f.client();
  const presets = await f.out.spin('Loading…', client.media.presets());
  await f.out.result(presets, async (p) => {
    await f.out.table(
      ['NAME', 'SIZE', 'CROP', 'TRANSFORMATION', 'DESCRIPTION'],
      p.data.map((x) => [
        x.name,
        x.height === null ? `${x.width} wide` : `${x.width}×${x.height}`,
        x.crop,
        x.transformation,
        x.description,
      ]),
    );
    f.out.info(f.out.errStyle.dim(`srcset widths: ${p.srcset_widths.join(', ')}; sizes: ${p.sizes}`));
  });
  return EXIT.ok;
}
