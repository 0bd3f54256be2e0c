import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { Chalk } from 'chalk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { formatBytes, uploadProgress } from '../src/commands/media.js';
import { main } from '../src/program.js';
import { type Cli, makeCli, signUpWithEvent } from './run-cli.js';

/** A real 64×48 PNG, made with the server package's pngjs (no binary fixture in the repository). */
function png(width = 64, height = 48): Buffer {
  type Png = { data: Buffer };
  const { PNG } = createRequire(new URL('../../server/package.json', import.meta.url))('pngjs') as {
    PNG: { new (o: { width: number; height: number }): Png; sync: { write(p: Png): Buffer } };
  };
  const image = new PNG({ width, height });
  for (let i = 0; i < image.data.length; i++) image.data[i] = i % 4 === 3 ? 255 : (i * 37) % 256;
  return PNG.sync.write(image);
}

class Captured extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('tickets media: helpers', () => {
  it('says sizes as people read them', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(812)).toBe('812 B');
    expect(formatBytes(14_540)).toBe('14 kB');
    expect(formatBytes(3_500)).toBe('3.4 kB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MB');
    expect(formatBytes(null)).toBe('');
  });

  it('draws a progress bar in place on a terminal, clears it at the end, and is quiet otherwise', () => {
    const style = new Chalk({ level: 0 });
    const terminal = Object.assign(new Captured(), { isTTY: true, columns: 100 });
    const bar = uploadProgress(terminal, style, 'Uploading poster.png');
    bar.update(0, 2048);
    bar.update(2048, 2048);
    bar.end();
    expect(terminal.text).toContain('\rUploading poster.png ░░░');
    expect(terminal.text).toContain('  0% 0 B of 2.0 kB');
    expect(terminal.text).toContain('100% 2.0 kB of 2.0 kB');
    expect(terminal.text.endsWith('\r\x1b[K')).toBe(true);
    expect(terminal.text).not.toContain('\n');

    const unknown = Object.assign(new Captured(), { isTTY: true, columns: 100 });
    const streamed = uploadProgress(unknown, style, 'Uploading stdin');
    streamed.update(5000, null);
    expect(unknown.text).toContain('Uploading stdin 4.9 kB sent');

    for (const [stream, quiet] of [
      [Object.assign(new Captured(), { isTTY: false }), false],
      [Object.assign(new Captured(), { isTTY: true, columns: 100 }), true],
    ] as const) {
      const silent = uploadProgress(stream, style, 'Uploading', quiet);
      silent.update(1, 2);
      silent.end();
      expect(stream.text).toBe('');
    }
  });
});

describe('sqlite: tickets media', () => {
  let server: TestServer;
  let cli: Cli;
  let eventId: string;
  let dir: string;
  let poster: string;
  let notAnImage: string;
  let site: Server;
  let siteUrl: string;
  const image = png();

  beforeAll(async () => {
    server = await startTestServer('sqlite', { TICKETS_MEDIA_ALLOW_PRIVATE_URLS: 'true' });
    cli = makeCli();
    eventId = await signUpWithEvent(cli, server.url, { org: 'Media Hall', event: 'Poster Night' });
    dir = mkdtempSync(join(tmpdir(), 'tickets-media-'));
    poster = join(dir, 'poster.png');
    writeFileSync(poster, image);
    notAnImage = join(dir, 'notes.png');
    writeFileSync(notAnImage, 'Remember: the band arrives at 18:00.\n'.repeat(10));
    // A web site for from-url to fetch from.
    site = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': image.length });
      res.end(image);
    });
    await new Promise<void>((r) => site.listen(0, '127.0.0.1', r));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}/hall.png`;
  });
  afterAll(async () => {
    cli?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await new Promise((r) => site?.close(r));
    await server?.stop();
  });

  it('uploads a file: its id and URLs, or the asset as JSON', async () => {
    const shown = await cli(['media', 'upload', poster, '--event', eventId, '--alt', 'The poster']);
    expect(shown.exitCode).toBe(0);
    expect(shown.stderr).toMatch(/Uploaded poster\.png as med_\w+\./);
    expect(shown.stderr).not.toContain('\r'); // no progress bar when stderr is not a terminal
    expect(shown.stdout).toMatch(/^ID: med_\w+$/m);
    expect(shown.stdout).toContain(`Event: ${eventId}`);
    expect(shown.stdout).toContain('Role: gallery');
    expect(shown.stdout).toContain('Status: ready');
    expect(shown.stdout).toMatch(/^Thumbnail: \S+$/m);
    expect(shown.stdout).toMatch(/^Card: \S+$/m);

    const asset = await cli.json(['media', 'upload', poster, '--event', eventId, '--position', '2']);
    expect(asset).toMatchObject({
      id: expect.stringMatching(/^med_/),
      object: 'media',
      event: eventId,
      role: 'gallery',
      position: 2,
      format: 'png',
      width: 64,
      height: 48,
      bytes: image.length,
      urls: { thumbnail: expect.any(String), card: expect.any(String), og: expect.any(String) },
    });
  });

  it('draws its progress on a terminal (stderr), and not with --json', async () => {
    const run = async (json: boolean) => {
      const stdout = new Captured();
      const stderr = Object.assign(new Captured(), { isTTY: true, columns: 100 });
      const exitCode = await main(
        ['node', 'tickets', 'media', 'upload', poster, '--event', eventId, ...(json ? ['--json'] : [])],
        {
          stdin: Readable.from([]),
          stdout,
          stderr,
          env: {
            ...process.env,
            TICKETS_CONFIG_DIR: cli.configDir,
            NO_COLOR: '1',
            TICKETS_API_URL: undefined,
            TICKETS_API_KEY: undefined,
            TICKETS_PROFILE: undefined,
          },
        },
      );
      return { exitCode, stdout: stdout.text, stderr: stderr.text };
    };
    const drawn = await run(false);
    expect(drawn.exitCode).toBe(0);
    expect(drawn.stderr).toMatch(/^\rUploading poster\.png .+ {2}0% 0 B of/);
    expect(drawn.stderr).toContain(`100% ${formatBytes(image.length)} of ${formatBytes(image.length)}`);
    // The bar is cleared (CR, erase the line) before the result is said.
    expect(drawn.stderr).toContain('\r\x1b[K✓ Uploaded poster.png as med_');
    const quiet = await run(true);
    expect(quiet.exitCode).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(JSON.parse(quiet.stdout).id).toMatch(/^med_/);
  });

  it('uploads from stdin with -, streamed', async () => {
    const stdout = new Captured();
    const stderr = new Captured();
    const exitCode = await main(
      ['node', 'tickets', 'media', 'upload', '-', '--event', eventId, '--filename', 'piped.png', '--json'],
      {
        stdin: Readable.from([image.subarray(0, 500), image.subarray(500)]),
        stdout,
        stderr,
        env: {
          ...process.env,
          TICKETS_CONFIG_DIR: cli.configDir,
          NO_COLOR: '1',
          TICKETS_API_URL: undefined,
          TICKETS_API_KEY: undefined,
          TICKETS_PROFILE: undefined,
        },
      },
    );
    expect(stderr.text).toBe('');
    expect(exitCode).toBe(0);
    expect(JSON.parse(stdout.text)).toMatchObject({ bytes: image.length, width: 64, event: eventId });
  });

  it('lists, shows and updates media', async () => {
    const asset = await cli.json(['media', 'upload', poster, '--event', eventId, '--role', 'gallery']);
    const listed = await cli(['media', 'list', '--event', eventId]);
    expect(listed.exitCode).toBe(0);
    expect(listed.stdout.split('\n').find((l) => l.startsWith(`${asset.id}\t`))).toContain(
      `\t${eventId}\tgallery\t`,
    );
    const json = await cli.json(['media', 'list', '--event', eventId, '--role', 'gallery', '--limit', '100']);
    expect(json.map((m: { id: string }) => m.id)).toContain(asset.id);

    const shown = await cli(['media', 'show', asset.id]);
    expect(shown.exitCode).toBe(0);
    for (const label of ['Thumbnail', 'Card', 'Open Graph', 'E-mail', 'Full size', 'Srcset'])
      expect(shown.stdout).toMatch(new RegExp(`^${label}: \\S+`, 'm'));
    expect(shown.stdout).toContain('Type: image, png 64×48');
    const shownJson = await cli.json(['media', 'show', asset.id]);
    expect(shownJson.urls.card).toBe(asset.urls.card);

    const updated = await cli.json(['media', 'update', asset.id, '--alt', 'The crowd', '--position', '5']);
    expect(updated).toMatchObject({ id: asset.id, alt: 'The crowd', position: 5 });
    const nothing = await cli(['media', 'update', asset.id]);
    expect(nothing.exitCode).toBe(2);
    expect(nothing.stderr).toContain('nothing to change');
    const notMedia = await cli(['media', 'show', 'evt_123']);
    expect(notMedia.exitCode).toBe(2);
    expect(notMedia.stderr).toContain('Expected a media id (med_…)');
  });

  it('deletes only with --yes when not interactive', async () => {
    const asset = await cli.json(['media', 'upload', poster, '--event', eventId]);
    const refused = await cli(['media', 'delete', asset.id]);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('refusing to do this without --yes when not running interactively');
    expect((await cli.json(['media', 'show', asset.id])).id).toBe(asset.id);

    const deleted = await cli.json(['media', 'delete', asset.id, '--yes']);
    expect(deleted).toMatchObject({ id: asset.id, deleted: true });
    const gone = await cli(['media', 'show', asset.id]);
    expect(gone.exitCode).toBe(1);
    expect(gone.stderr.split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
  });

  it('creates an event with --cover: the event shows its cover', async () => {
    const event = await cli.json([
      'events',
      'create',
      '--name',
      'Covered Night',
      '--timezone',
      'Europe/Berlin',
      '--currency',
      'EUR',
      '--starts',
      '2031-11-30 20:00',
      '--ends',
      '2031-11-30 23:00',
      '--cover',
      poster,
    ]);
    expect(event.cover).toMatchObject({ id: expect.stringMatching(/^med_/), role: 'cover', event: event.id });
    const shown = await cli.json(['events', 'show', event.id]);
    expect(shown.cover?.id).toBe(event.cover.id);
    const human = await cli(['events', 'show', event.id]);
    expect(human.stdout).toContain(`Cover: ${event.cover.id}`);
  });

  it('events create --cover: an unreadable file creates nothing; a refused one says the event exists', async () => {
    const before = (await cli.json(['events', 'list', '--all'])).length;
    const base = [
      'events',
      'create',
      '--timezone',
      'Europe/Berlin',
      '--currency',
      'EUR',
      '--starts',
      '2031-10-01 20:00',
      '--ends',
      '2031-10-01 23:00',
    ];
    const missing = await cli([...base, '--name', 'Never', '--cover', join(dir, 'missing.jpg')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('cannot read --cover');
    expect((await cli.json(['events', 'list', '--all'])).length).toBe(before);

    const refused = await cli([...base, '--name', 'Half Done', '--cover', notAnImage, '--json']);
    expect(refused.exitCode).toBe(1);
    const created = JSON.parse(refused.stdout);
    expect(created).toMatchObject({ name: 'Half Done', cover: null });
    expect(refused.stderr).toContain(`(${created.id}), but its cover was not uploaded`);
    expect(refused.stderr).toContain(`tickets media upload ${notAnImage} --event ${created.id} --role cover`);
    expect(refused.stderr.split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
    expect((await cli.json(['events', 'list', '--all'])).length).toBe(before + 1);
  });

  it('refuses a text file named .png in one line, exit 1', async () => {
    const r = await cli(['media', 'upload', notAnImage, '--event', eventId]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: .+ \(\w+, request id req_\w+\)$/);

    const missing = await cli(['media', 'upload', join(dir, 'nope.png')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain(`cannot read the file ${join(dir, 'nope.png')}: no such file`);
  });

  it('adds media from a URL', async () => {
    const asset = await cli.json(['media', 'from-url', siteUrl, '--event', eventId, '--alt', 'The hall']);
    expect(asset).toMatchObject({ event: eventId, alt: 'The hall', width: 64, height: 48, role: 'gallery' });
  });

  it('shows the storage used and the presets', async () => {
    const usage = await cli.json(['media', 'usage']);
    expect(usage).toMatchObject({ object: 'media_usage', provider: 'local' });
    expect(usage.assets).toBeGreaterThan(0);
    expect(usage.events.find((e: { event: string }) => e.event === eventId)?.assets).toBeGreaterThan(0);
    const human = await cli(['media', 'usage']);
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toContain('Provider: local');
    expect(human.stdout).toMatch(new RegExp(`^${eventId}\\t\\d+\\t`, 'm'));

    const presets = await cli(['media', 'presets']);
    expect(presets.exitCode).toBe(0);
    expect(presets.stdout.split('\n').map((l) => l.split('\t')[0])).toEqual([
      'thumbnail',
      'card',
      'og',
      'email',
      'full',
    ]);
    expect(presets.stderr).toContain('srcset widths: 320, 640, 960, 1280, 1920');
  });

  it('is in the help and the completion scripts', async () => {
    const help = await cli(['--help']);
    expect(help.stdout).toMatch(/^\s+media\s/m);
    const bash = await cli(['completion', 'bash']);
    expect(bash.stdout).toContain('from-url');
    expect(bash.stdout).toContain('presets');
  });
});
