/**
 * `@tickets/sdk` is packable and works installed in a project that is not part of this workspace, as the
 * README says: `pnpm pack` (whose prepack builds dist) gives a tarball; `pnpm add <tarball>` and
 * `npm install <tarball>` in a new ESM project install it with its dependencies from the registry (the
 * pnpm store and npm cache first); a Node script there imports it and sells a ticket on a real server,
 * and a .ts file importing it type-checks under `module: nodenext` with the workspace's TypeScript.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SDK = join(ROOT, 'packages/sdk');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
/** The same @types/node as the workspace, so pnpm finds it in its store. */
const TYPES_NODE = JSON.parse(readFileSync(join(ROOT, 'node_modules/@types/node/package.json'), 'utf8'))
  .version as string;
/** No install may take longer: this runs in CI, where a stuck registry must fail the test, not hang it. */
const INSTALL_TIMEOUT = 30_000;

/** The environment without what a surrounding `pnpm run`/`npx` put there for this workspace. */
const env = Object.fromEntries(
  Object.entries(process.env).filter(
    ([k]) =>
      !/^(npm_package_|npm_lifecycle_|npm_config_(?!registry|cache|store_dir))|^(INIT_CWD|PNPM_SCRIPT_SRC_DIR)$/i.test(
        k,
      ),
  ),
);

function sh(
  cmd: string,
  args: string[],
  cwd: string,
  timeout: number,
  extraEnv: Record<string, string> = {},
) {
  return exec(cmd, args, { cwd, timeout, env: { ...env, ...extraEnv }, maxBuffer: 10 * 1024 * 1024 }).catch(
    (err: { stderr?: string; stdout?: string; message: string }) => {
      throw new Error(
        `${cmd} ${args.join(' ')} (in ${cwd}) failed:\n${err.stderr || err.message}\n${err.stdout ?? ''}`,
      );
    },
  );
}

/** Every file under `dir`, relative to it, with forward slashes. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

/** A new ESM project, as someone outside this repository would start one. */
function newProject(dir: string): string {
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  return dir;
}

const MAIN_MJS = `import { ConflictError, Tickets, decodeTicketCode, verifyTicketCode } from '@tickets/sdk';
import { PurchaseInput } from '@tickets/sdk/contract';

const tickets = new Tickets({ baseUrl: process.env.TICKETS_API_URL });
const stamp = Math.random().toString(36).slice(2, 10);
await tickets.auth.register({ email: \`pack-\${stamp}@example.com\`, password: 'correct horse battery', name: 'Pat Packer' });
const event = await tickets.events.create({
  name: 'Packed Night', timezone: 'Europe/Berlin', currency: 'EUR',
  starts_at: '2030-12-31T20:00:00+01:00', ends_at: '2031-01-01T02:00:00+01:00',
});
const ga = await tickets.ticketTypes.create(event.id, { name: 'GA', price: { amount: 2500, currency: 'EUR' }, capacity: 10 });
await tickets.events.publish(event.id);
let conflict = null;
try {
  await tickets.events.publish(event.id);
} catch (err) {
  if (!(err instanceof ConflictError)) throw err;
  conflict = err.code;
}
// The contract's zod schemas work from the subpath export.
const input = PurchaseInput.parse({
  event: event.id, items: [{ ticket_type: ga.id, quantity: 1 }],
  buyer: { name: 'Bea Buyer', email: 'bea@example.com' }, payment_method: 'manual',
});
const order = await tickets.orders.purchase(input);
const [ticket] = order.tickets;
const { public_key } = await tickets.events.publicKey(event.id);
console.log(JSON.stringify({
  resolved: import.meta.resolve('@tickets/sdk'),
  conflict,
  status: order.status,
  ticketId: ticket.id,
  check: await verifyTicketCode(ticket.code, public_key),
  decoded: decodeTicketCode(ticket.code)?.payload,
  forged: (await verifyTicketCode(ticket.code.slice(0, -4) + 'AAAA', public_key)).valid,
}));
`;

const INDEX_TS = `import { type Order, Tickets, type TicketCodeCheck, verifyTicketCode } from '@tickets/sdk';
import { PurchaseInput } from '@tickets/sdk/contract';

const tickets = new Tickets({ baseUrl: 'http://127.0.0.1:3000', token: process.env.TICKETS_API_KEY });
export const buy = (input: PurchaseInput): Promise<Order> => tickets.orders.purchase(input);
export const isPurchase = (body: unknown): boolean => PurchaseInput.safeParse(body).success;
export async function ticketOf(code: string, key: string): Promise<string | null> {
  const check: TicketCodeCheck = await verifyTicketCode(code, key);
  return check.valid ? check.ticketId : null;
}
export async function total(id: string): Promise<number> {
  const order = await tickets.orders.get(id);
  // @ts-expect-error the total is money ({ amount, currency }), not a number: the types are precise, not any
  const wrong: number = order.total;
  return wrong && order.total.amount;
}
export async function qr(id: string): Promise<Buffer> {
  // @ts-expect-error a PNG is a Buffer (from @types/node), not a string
  const wrong: string = await tickets.tickets.qr(id, 'png');
  return wrong ? Buffer.from(wrong) : tickets.tickets.qr(id);
}
// @ts-expect-error the client has no purchase(): selling is tickets.orders.purchase
tickets.purchase;
`;

describe('the packed SDK', () => {
  let work: string;
  let tarball: string;
  let withPnpm: string;
  let withNpm: string;
  let server: TestServer;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'tickets-pack-'));
    const serverStarted = startTestServer('sqlite');
    mkdirSync(join(work, 'pack'));
    await sh('pnpm', ['pack', '--pack-destination', join(work, 'pack')], SDK, 60_000);
    const packed = readdirSync(join(work, 'pack')).filter((f) => f.endsWith('.tgz'));
    expect(packed).toEqual(['tickets-sdk-0.1.0.tgz']);
    tarball = join(work, 'pack', packed[0]!);

    // Outside the workspace: nothing of it can be found by walking up from here.
    withPnpm = newProject(join(work, 'with-pnpm'));
    withNpm = newProject(join(work, 'with-npm'));
    await Promise.all([
      sh(
        'pnpm',
        ['add', tarball, `@types/node@${TYPES_NODE}`, '--prefer-offline'],
        withPnpm,
        INSTALL_TIMEOUT,
      ),
      sh(
        'npm',
        ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'],
        withNpm,
        INSTALL_TIMEOUT,
      ),
    ]);
    server = await serverStarted;
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs its built dist, sources for the maps and README, and nothing of the workspace', () => {
    // npm unpacks the tarball as it is: what is there is what was packed.
    const pkgDir = join(withNpm, 'node_modules/@tickets/sdk');
    const files = filesUnder(pkgDir);
    const manifest = readFileSync(join(pkgDir, 'package.json'), 'utf8');
    expect(manifest).not.toMatch(/workspace:|link:|file:/);
    const pkg = JSON.parse(manifest);
    expect(pkg).toMatchObject({ name: '@tickets/sdk', type: 'module', sideEffects: false });
    expect(Object.keys(pkg.dependencies ?? {}).sort()).toEqual(['typeid-js', 'zod']);

    expect(files).toContain('README.md');
    expect(files.filter((f) => !/^(dist|src)\//.test(f))).toEqual(['README.md', 'package.json']);
    expect(files.filter((f) => /tsbuildinfo|\.test\.|^test\//.test(f))).toEqual([]);
    // Every export, and the top-level main/types, is a file that was packed.
    const targets = [
      pkg.main,
      pkg.types,
      ...Object.values(pkg.exports as Record<string, string | Record<string, string>>).flatMap((e) =>
        typeof e === 'string' ? [e] : Object.values(e),
      ),
    ];
    for (const target of targets) expect(files).toContain(String(target).replace(/^\.\//, ''));
    // Built from today's sources: each source has its JS and declarations, and each map's sources were packed.
    for (const src of filesUnder(join(SDK, 'src'))) {
      const base = `dist/${src.replace(/\.ts$/, '')}`;
      expect(files).toEqual(expect.arrayContaining([`src/${src}`, `${base}.js`, `${base}.d.ts`]));
      const map = JSON.parse(readFileSync(join(pkgDir, `${base}.js.map`), 'utf8')) as { sources: string[] };
      for (const s of map.sources) expect(existsSync(join(pkgDir, dirname(base), s))).toBe(true);
      expect(readFileSync(join(pkgDir, `${base}.js`), 'utf8')).toBe(
        readFileSync(join(SDK, `${base}.js`), 'utf8'),
      );
    }
  });

  it.each([
    ['pnpm add', () => withPnpm],
    ['npm install', () => withNpm],
  ])(
    'after %s, a Node script imports it and sells a ticket on a real server',
    async (_installer, project) => {
      const dir = project();
      writeFileSync(join(dir, 'main.mjs'), MAIN_MJS);
      const { stdout } = await sh(process.execPath, ['main.mjs'], dir, 20_000, {
        TICKETS_API_URL: server.url,
      });
      const out = JSON.parse(stdout);
      // The installed copy, not the workspace's.
      expect(out.resolved.startsWith(pathToFileURL(join(realpathSync(dir), 'node_modules')).href)).toBe(true);
      expect(out.resolved).toMatch(/\/@tickets\/sdk\/dist\/index\.js$/);
      expect(out).toMatchObject({
        conflict: 'invalid_transition',
        status: 'paid',
        check: { valid: true, ticketId: out.ticketId },
        decoded: { ticketId: out.ticketId },
        forged: false,
      });
    },
  );

  it('type-checks a .ts file importing it with module nodenext, against the installed declarations', async () => {
    writeFileSync(join(withPnpm, 'index.ts'), INDEX_TS);
    writeFileSync(
      join(withPnpm, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
        },
        files: ['index.ts'],
      }),
    );
    // Fails (exit 2, the errors on stdout) on any type error, an unused @ts-expect-error among them: were a
    // type of the declarations unresolved (any), its @ts-expect-error would be unused.
    const { stdout } = await sh(
      process.execPath,
      [TSC, '-p', 'tsconfig.json', '--listFiles'],
      withPnpm,
      60_000,
    );
    const used = stdout.split('\n').filter((l) => l.includes('@tickets/sdk'));
    expect(used).toEqual(
      expect.arrayContaining([expect.stringMatching(/@tickets\/sdk\/dist\/index\.d\.ts$/)]),
    );
    expect(used).toEqual(
      expect.arrayContaining([expect.stringMatching(/@tickets\/sdk\/dist\/contract\/index\.d\.ts$/)]),
    );
    for (const file of used) expect(file.startsWith(realpathSync(withPnpm))).toBe(true);
  });
});
