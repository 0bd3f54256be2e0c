/**
 * Every TypeScript example in every README is real: each ```ts block is type-checked against the SDK as
 * it is published (`@tickets/sdk` resolved through its package.json exports, to the built dist) under the
 * repository's own compiler settings, then run with Node against a real server on a fresh database.
 *
 * An example reads the API's address and key the way the CLI does, from `TICKETS_API_URL` and
 * `TICKETS_API_KEY`; each run gets a new organization and a `full` API key of its own, and its owner's
 * e-mail and password in `TICKETS_EMAIL` and `TICKETS_PASSWORD` (for what only a signed-in owner may do).
 * A block fenced ```ts no-run is type-checked but not run (for fragments that need what a test can't give).
 */
import { execFile } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../server/test/harness.js';
import { Tickets } from '../src/index.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SDK = join(ROOT, 'packages/sdk');

interface Example {
  /** Where it is, e.g. `README.md:183` (the line of its opening fence). */
  name: string;
  readme: string;
  /** 1-based line of the block's first line of code. */
  line: number;
  code: string;
  noRun: boolean;
}

/** Every README.md of the repository, outside node_modules and build output. */
function readmes(dir = ROOT): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!['node_modules', 'dist', 'coverage', '.git', '.data'].includes(entry.name))
        found.push(...readmes(join(dir, entry.name)));
    } else if (/^readme\.md$/i.test(entry.name)) found.push(join(dir, entry.name));
  }
  return found.sort();
}

/** The ```ts / ```typescript blocks of a markdown text; an info string with `no-run` marks one not to run. */
function extractExamples(markdown: string, readme: string): Example[] {
  const examples: Example[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^( {0,3})(`{3,}|~{3,})\s*(ts|typescript)\b(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent = '', fence = '```', , info = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !lines[j]!.trimStart().startsWith(fence); j++)
      body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!);
    examples.push({
      name: `${readme}:${i + 1}`,
      readme,
      line: i + 2,
      code: `${body.join('\n')}\n`,
      noRun: /\bno-run\b/.test(info),
    });
    i = j;
  }
  return examples;
}

const examples = readmes().flatMap((file) =>
  extractExamples(readFileSync(file, 'utf8'), relative(ROOT, file).split('\\').join('/')),
);

/** Not from a README: proves the check fails on a method the SDK doesn't have, and the run on a failed call. */
const canaries = {
  typeError: `import { Tickets } from '@tickets/sdk';
const tickets = new Tickets({ baseUrl: 'http://127.0.0.1:3000' });
await tickets.purchase({ event: 'evt_x', items: [], buyer: { name: 'B', email: 'b@example.com' } });
`,
  runtimeError: `import { Tickets } from '@tickets/sdk';
const tickets = new Tickets({ baseUrl: process.env.TICKETS_API_URL ?? '', token: process.env.TICKETS_API_KEY });
await tickets.events.get('evt_01jd0000000000000000000000');
`,
};

/** Builds the SDK's dist (nothing to do when it is current): the examples run, and are typed, against it. */
async function buildSdk(): Promise<void> {
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', SDK], { cwd: ROOT });
}

/** `file:line:col TSnnnn message` for each diagnostic, lines counted in the README. */
function describeDiagnostics(diagnostics: readonly ts.Diagnostic[], example?: Example): string[] {
  return diagnostics.map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return `TS${d.code} ${message}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    const where = example ? `${example.readme}:${example.line + line}` : `${d.file.fileName}:${line + 1}`;
    return `${where}:${character + 1} TS${d.code} ${message}`;
  });
}

describe('the README examples', () => {
  let dir: string;
  let server: TestServer;
  const fileOf = new Map<string, string>();
  let diagnostics: readonly ts.Diagnostic[] = [];

  beforeAll(async () => {
    await buildSdk();
    dir = mkdtempSync(join(tmpdir(), 'tickets-readme-'));
    // The project the examples live in: ESM, with @tickets/sdk installed as a link to the workspace package.
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, type: 'module' }));
    mkdirSync(join(dir, 'node_modules/@tickets'), { recursive: true });
    symlinkSync(SDK, join(dir, 'node_modules/@tickets/sdk'), 'dir');
    examples.forEach((example, i) => {
      const file = join(dir, `example-${i + 1}.ts`);
      writeFileSync(file, example.code);
      fileOf.set(example.name, file);
    });
    for (const [name, code] of Object.entries(canaries)) {
      writeFileSync(join(dir, `${name}.ts`), code);
      fileOf.set(name, join(dir, `${name}.ts`));
    }

    // The repository's compiler settings (strict, noUncheckedIndexedAccess, NodeNext), emitting JS beside each file.
    const config = ts.parseJsonConfigFileContent(
      {
        extends: join(ROOT, 'tsconfig.base.json'),
        compilerOptions: {
          composite: false,
          declaration: false,
          declarationMap: false,
          sourceMap: false,
          incremental: false,
          moduleDetection: 'force',
          typeRoots: [join(ROOT, 'node_modules/@types')],
          types: ['node'],
        },
        files: [...fileOf.values()],
      },
      ts.sys,
      dir,
    );
    expect(describeDiagnostics(config.errors)).toEqual([]);
    const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
    diagnostics = ts.getPreEmitDiagnostics(program);
    // Emitted even with type errors, so the canary that fails at runtime can be run.
    program.emit();

    server = await startTestServer('sqlite');
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const diagnosticsOf = (name: string) =>
    diagnostics.filter((d) => d.file && ts.sys.resolvePath(d.file.fileName) === fileOf.get(name));

  /** Runs an emitted example with Node, as a new organization holding a `full` API key. */
  async function runExample(name: string) {
    const owner = new Tickets({ baseUrl: server.url });
    const email = `readme-${Math.random().toString(36).slice(2, 10)}@example.com`;
    const password = 'correct horse battery';
    await owner.auth.register({ email, password, name: 'Ann Owner' });
    const { secret } = await owner.apiKeys.create({ name: 'README', scopes: ['full'] });
    const js = fileOf.get(name)!.replace(/\.ts$/, '.js');
    // Asynchronously: the server answering the example runs in this process.
    return run(process.execPath, [js], {
      cwd: dir,
      timeout: 20_000,
      env: {
        ...process.env,
        TICKETS_API_URL: server.url,
        TICKETS_API_KEY: secret,
        TICKETS_EMAIL: email,
        TICKETS_PASSWORD: password,
      },
    });
  }

  it('reads ```ts and ```typescript blocks, with their README line and no-run mark', () => {
    const md = ['# x', '```ts', 'a();', '```', '```sh', 'b', '```', '```typescript no-run', 'c();', '```'];
    expect(extractExamples(md.join('\n'), 'X.md')).toEqual([
      { name: 'X.md:2', readme: 'X.md', line: 3, code: 'a();\n', noRun: false },
      { name: 'X.md:8', readme: 'X.md', line: 9, code: 'c();\n', noRun: true },
    ]);
  });

  it('finds the SDK examples of the READMEs', () => {
    expect(examples.filter((e) => e.readme === 'README.md').length).toBeGreaterThan(0);
    expect(examples.filter((e) => e.readme === 'packages/sdk/README.md').length).toBeGreaterThan(0);
  });

  it('compiles with no error outside the examples', () => {
    const ours = new Set(fileOf.values());
    const elsewhere = diagnostics.filter((d) => !d.file || !ours.has(ts.sys.resolvePath(d.file.fileName)));
    expect(describeDiagnostics(elsewhere)).toEqual([]);
  });

  it('fails the check for a method the SDK does not have, and the run for a call that fails', async () => {
    expect(describeDiagnostics(diagnosticsOf('typeError'))).toEqual([
      expect.stringMatching(/TS2339 Property 'purchase' does not exist on type 'Tickets'/),
    ]);
    await expect(runExample('runtimeError')).rejects.toThrow(/NotFoundError/);
  });

  describe.each(examples)('$name', (example) => {
    it('type-checks', () => {
      expect(describeDiagnostics(diagnosticsOf(example.name), example)).toEqual([]);
    });

    it.skipIf(example.noRun)('runs against a real server', async () => {
      expect(describeDiagnostics(diagnosticsOf(example.name), example)).toEqual([]);
      try {
        await runExample(example.name);
      } catch (err) {
        const { stderr, stdout, message } = err as { stderr?: string; stdout?: string; message: string };
        throw new Error(`${example.name} failed:\n${stderr || message}\n${stdout ?? ''}`);
      }
    });
  });
});
