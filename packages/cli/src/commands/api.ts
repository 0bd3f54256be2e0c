import { readFile } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import type { HttpMethod, RawResponse, RouteDef, Tickets } from '@tickets/sdk';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Context } from '../context.js';
import { CliError, EXIT, UsageError } from '../errors.js';
import { type Factory, factoryOf } from '../factory.js';
import { examples } from '../help.js';
import { io } from '../io.js';
import { printable } from '../output.js';

export const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** What `tickets api` was asked to send, once its arguments are read. */
export interface ApiOptions {
  method: HttpMethod;
  /** `/api/…`, with the query string the user typed, if any. */
  path: string;
  /** `-f key=value`: string values. */
  fields: string[];
  /** `-F key=value`: true, false, null and integers typed; `@file` (`@-`: stdin) read from a file. */
  typedFields: string[];
  /** `-H 'Name: value'`. */
  headers: string[];
  /** `--input <file>` (`-`: stdin): the JSON body; fields then go to the query string. */
  input?: string;
  paginate: boolean;
  include: boolean;
}

const collect =
  (check: (value: string) => string) =>
  (value: string, previous: string[] = []): string[] => [...previous, check(value)];

const fieldArg = (value: string): string => {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`Expected key=value, got "${value}".`);
  return value;
};

const HEADER = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*)$/s;

const headerArg = (value: string): string => {
  if (!HEADER.test(value)) throw new InvalidArgumentError(`Expected "Name: value", got "${value}".`);
  return value;
};

/** `GET /api/events`, `get events`, or just `/api/events` (GET); the `/api` prefix may be left out. */
export function requestLine(first: string, second: string | undefined): { method: HttpMethod; path: string } {
  const upper = first.toUpperCase() as HttpMethod;
  if (second === undefined) {
    if (METHODS.includes(upper))
      throw new UsageError(`${upper} of which path? e.g. tickets api ${upper} /api/events`);
    return { method: 'GET', path: apiPath(first) };
  }
  if (!METHODS.includes(upper))
    throw new UsageError(`unknown method "${first}": use one of ${METHODS.join(', ')}`);
  return { method: upper, path: apiPath(second) };
}

/** `/api/events`, `api/events`, `events` and `/events` all mean `/api/events`. */
export function apiPath(value: string): string {
  const path = value.trim();
  if (/^[a-z][a-z\d+.-]*:\/\//i.test(path))
    throw new UsageError(
      `give a path such as /api/events, not a URL: the server is the profile's (--profile, TICKETS_API_URL)`,
    );
  const bare = path.replace(/^\/+/, '');
  if (!bare) throw new UsageError('give a path such as /api/events');
  return /^api(\/|\?|$)/.test(bare) ? `/${bare}` : `/api/${bare}`;
}

/** `tickets api`: like `gh api`, a request to any endpoint with the profile's credentials. */
export function newApiCommand(
  program: Command,
  run: (f: Factory, o: ApiOptions) => Promise<number> = apiRun,
): Command {
  const command = program
    .command('api')
    .description(
      'Send a request to any API endpoint with your credentials, and print the answer (like gh api)',
    )
    .argument('<method-or-path>', `${METHODS.join(', ')} (case does not matter; default GET), then the path`)
    .argument('[path]', 'the endpoint, e.g. /api/events (the /api prefix may be left out)')
    .option(
      '-f, --field <key=value>',
      'a string field, repeatable; a.b=1 and items[0].qty=2 nest (query parameters for GET)',
      collect(fieldArg),
    )
    .option(
      '-F, --typed-field <key=value>',
      'a field whose true, false, null and integers are typed; @file reads the value from a file (@- stdin)',
      collect(fieldArg),
    )
    .option(
      '-H, --header <header>',
      'an extra header, "Name: value", repeatable (an Authorization header replaces your credentials)',
      collect(headerArg),
    )
    .option(
      '--input <file>',
      'send this file as the JSON body (- for stdin); fields then go to the query string',
    )
    .option('--paginate', 'fetch every page of a list and print one JSON array of all its items')
    .addOption(
      new Option('-i, --include', 'print the status line and response headers before the body').conflicts(
        'paginate',
      ),
    )
    .addHelpText(
      'after',
      '\nThe answer is printed as it came: JSON pretty-printed, anything else (a PDF, an image) byte for byte,\n' +
        'which needs stdout redirected or piped. On a 4xx/5xx answer the problem+json body is still printed on\n' +
        'stdout, and a one-line error on stderr.\n\nExit codes: 0 2xx, 1 4xx/5xx or no answer, 2 usage error.\n',
    )
    .action(
      async (first: string, second: string | undefined, flags: Record<string, unknown>, cmd: Command) => {
        const ctx = Context.of(cmd);
        const options: ApiOptions = {
          ...requestLine(first, second),
          fields: (flags.field as string[] | undefined) ?? [],
          typedFields: (flags.typedField as string[] | undefined) ?? [],
          headers: (flags.header as string[] | undefined) ?? [],
          input: flags.input as string | undefined,
          paginate: Boolean(flags.paginate),
          include: Boolean(flags.include),
        };
        io().exitCode = await run(factoryOf(ctx), options);
      },
    );
  return examples(
    command,
    'tickets api /api/me',
    'tickets api GET /api/events -f status=published -F limit=5',
    'tickets api POST /api/events -f name="Jazz Night" -f timezone=Europe/Berlin -f currency=EUR \\\n' +
      '      -f starts_at=2026-12-31T20:00:00+01:00 -f ends_at=2027-01-01T02:00:00+01:00 -F capacity=300 \\\n' +
      '      -f venue.name="Blue Note" -f venue.city=Berlin -f venue.country=DE',
    'tickets api PUT /api/events/evt_… --input changes.json',
    'tickets api /api/orders --paginate -F limit=100 | jq length',
    'tickets api /api/tickets/tkt_…/qr.png > qr.png',
    'tickets api -i DELETE /api/api-keys/key_…',
  );
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** One step of a field's key: a property, an array index, or `[]` (the next element). */
type Step = string | number | null;

/** `a`, `a.b`, `items[0].qty`, `tags[]`. */
export function keyPath(key: string): Step[] {
  const first = /^[^.[\]]+/.exec(key);
  if (!first) throw badKey(key);
  const steps: Step[] = [first[0]];
  let rest = key.slice(first[0].length);
  while (rest) {
    const m = /^(?:\.([^.[\]]+)|\[(\d*)\])/.exec(rest);
    if (!m) throw badKey(key);
    steps.push(m[1] !== undefined ? m[1] : m[2] === '' ? null : Number(m[2]));
    rest = rest.slice(m[0].length);
  }
  return steps;
}

const badKey = (key: string) =>
  new UsageError(`bad field name "${key}": use name, a.b, items[0].qty or tags[] (one value per key)`);

/** Sets `value` at `steps` in `root`, making the objects and arrays on the way. */
function assign(root: Record<string, Json>, steps: Step[], value: Json, key: string): void {
  const clash = () => new UsageError(`field "${key}" clashes with another field's shape`);
  let node: Record<string, Json> | Json[] = root;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i]!;
    let slot: string | number;
    if (Array.isArray(node)) {
      if (typeof step === 'string') throw clash();
      slot = step ?? node.length;
      if (slot > node.length)
        throw new UsageError(`field "${key}": index ${slot} skips ${node.length} (indexes count from 0)`);
    } else {
      if (typeof step !== 'string') throw clash();
      slot = step;
    }
    const at = node as Record<string | number, Json | undefined>;
    if (i === steps.length - 1) {
      if (at[slot] !== undefined && typeof at[slot] === 'object' && at[slot] !== null) throw clash();
      at[slot] = value;
      return;
    }
    const wantArray = typeof steps[i + 1] !== 'string';
    let child = at[slot];
    if (child === undefined) {
      // Without a prototype, a field named __proto__ or constructor is a field like any other.
      child = wantArray ? [] : (Object.create(null) as Record<string, Json>);
      at[slot] = child;
    } else if (child === null || typeof child !== 'object' || Array.isArray(child) !== wantArray)
      throw clash();
    node = child as Record<string, Json> | Json[];
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** A file's bytes, `-` being stdin; a file that cannot be read is a usage error. */
async function readSource(f: Factory, file: string, what: string): Promise<Buffer> {
  if (file === '-') return readAll(f.io.stdin);
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new UsageError(`cannot read ${what} ${file}: ${why}`);
  }
}

/** `-F`'s value: true, false, null, an integer, `@file`; otherwise the string itself. */
async function typedValue(f: Factory, value: string): Promise<Json> {
  if (value.startsWith('@'))
    return (await readSource(f, value.slice(1), 'the field value file')).toString('utf8');
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (value === 'null') return null;
  if (/^-?\d+$/.test(value) && Number.isSafeInteger(Number(value))) return Number(value);
  return value;
}

/** Every field, in order (-f before -F, as gh does), as key and value. */
async function readFields(f: Factory, o: ApiOptions): Promise<Array<{ key: string; value: Json }>> {
  const split = (field: string) => {
    const eq = field.indexOf('=');
    if (eq <= 0) throw new UsageError(`expected key=value, got "${field}"`);
    return { key: field.slice(0, eq), value: field.slice(eq + 1) };
  };
  const stdinUses = o.typedFields.filter((t) => split(t).value === '@-').length + (o.input === '-' ? 1 : 0);
  if (stdinUses > 1) throw new UsageError('stdin can be read once: by --input - or by one -F key=@-');
  const out: Array<{ key: string; value: Json }> = o.fields.map(split);
  for (const field of o.typedFields) {
    const { key, value } = split(field);
    out.push({ key, value: await typedValue(f, value) });
  }
  return out;
}

/** The request: its path and query string, and its JSON body if any. */
async function buildRequest(
  f: Factory,
  o: ApiOptions,
): Promise<{ pathname: string; query: URLSearchParams; body: unknown }> {
  const q = o.path.indexOf('?');
  const pathname = q === -1 ? o.path : o.path.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : o.path.slice(q + 1));
  const fields = await readFields(f, o);
  if (o.method === 'GET' && o.input !== undefined)
    throw new UsageError('a GET has no body: drop --input, or give the method (POST, PUT, PATCH, DELETE)');
  if (o.paginate && o.method !== 'GET') throw new UsageError('--paginate is for GET lists');
  let body: unknown;
  if (o.method === 'GET' || o.input !== undefined) {
    for (const { key, value } of fields) query.append(key, value === null ? '' : String(value));
  } else if (fields.length) {
    const root = Object.create(null) as Record<string, Json>;
    for (const { key, value } of fields) assign(root, keyPath(key), value, key);
    body = root;
  }
  if (o.input !== undefined) {
    const text = (await readSource(f, o.input, '--input')).toString('utf8');
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch (err) {
        throw new UsageError(`--input ${o.input} is not JSON: ${(err as Error).message}`);
      }
    }
  }
  return { pathname, query, body };
}

/** `Name: value` lines as headers (lower-case names); an Idempotency-Key is given to the SDK as one. */
function requestHeaders(o: ApiOptions): { headers: Record<string, string>; idempotencyKey?: string } {
  const headers: Record<string, string> = {};
  for (const line of o.headers) {
    const m = HEADER.exec(line);
    if (!m) throw new UsageError(`expected a header as "Name: value", got "${line}"`);
    headers[m[1]!.toLowerCase()] = m[2]!.trim();
  }
  const { 'idempotency-key': idempotencyKey, ...rest } = headers;
  return idempotencyKey ? { headers: rest, idempotencyKey } : { headers: rest };
}

/**
 * The contract's route for this method and path, when there is one: whether it wants credentials and
 * whether a POST may carry an Idempotency-Key, as the SDK's own calls do.
 */
function knownRoute(all: readonly RouteDef[], method: HttpMethod, pathname: string): RouteDef | undefined {
  const params = (r: RouteDef) => (r.path.match(/:\w+/g) ?? []).length;
  return all
    .filter((r) => r.method === method)
    .filter((r) =>
      new RegExp(`^${r.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:\w+/g, '[^/]+')}/?$`).test(
        pathname,
      ),
    )
    .sort((a, b) => params(a) - params(b))[0];
}

const isList = (
  v: unknown,
): v is { object: 'list'; data: unknown[]; has_more: boolean; next_cursor: string | null } =>
  typeof v === 'object' &&
  v !== null &&
  (v as { object?: unknown }).object === 'list' &&
  Array.isArray((v as { data?: unknown }).data);

const isJson = (contentType: string) => /^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType);
const isText = (contentType: string) =>
  /^text\//i.test(contentType) ||
  /^application\/(?:[\w.+-]+\+)?xml\b/i.test(contentType) ||
  /\+xml\b/i.test(contentType);

/** Bytes that are not text: a NUL, or not UTF-8. */
function binary(bytes: Buffer): boolean {
  if (bytes.includes(0)) return true;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return false;
  } catch {
    return true;
  }
}

/** `Content-Type` for `content-type`. */
const headerName = (name: string) =>
  name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());

/** Sends the request, prints the answer; 0 on 2xx, 1 on 4xx/5xx, 2 on usage errors. */
export async function apiRun(f: Factory, o: ApiOptions): Promise<number> {
  const stdout = f.io.stdout;
  const { pathname, query, body } = await buildRequest(f, o);
  const { headers, idempotencyKey } = requestHeaders(o);
  const { allRoutes, TicketsError } = await import('@tickets/sdk');
  const known = knownRoute(allRoutes, o.method, pathname);
  // A route that needs no credentials works signed out; an Authorization header given is sent as it is.
  const client: Tickets =
    known?.auth === 'public' || headers.authorization !== undefined
      ? await f.ctx.newClient((await f.ctx.apiUrl()).url, {})
      : await f.client();
  // The SDK fills `:name` parameters in a route's path: a colon the user typed is sent escaped.
  const wirePath = pathname.replaceAll(':', '%3A');
  const send = (q: URLSearchParams): Promise<RawResponse> => {
    const qs = q.toString();
    const route: RouteDef = {
      method: o.method,
      path: `${wirePath}${qs ? `?${qs}` : ''}`,
      summary: 'tickets api',
      tag: 'api',
      auth: known?.auth ?? 'any',
      response: null,
      ...(known?.idempotent === false ? { idempotent: false } : {}),
    };
    return client.requestRaw(
      route,
      { body },
      { headers: { accept: '*/*', ...headers }, ...(idempotencyKey ? { idempotencyKey } : {}) },
    );
  };
  const include = (status: number, responseHeaders: Headers | undefined) => {
    if (!o.include) return;
    const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`.trimEnd()];
    for (const [name, value] of responseHeaders ?? []) lines.push(`${headerName(name)}: ${value}`);
    const head = lines.join('\n');
    stdout.write(`${stdout.isTTY ? printable(head) : head}\n\n`);
  };

  try {
    if (o.paginate) {
      const items: unknown[] = [];
      const seen = new Set<string>();
      for (;;) {
        const res = await send(query);
        const page = parsed(res);
        if (!isList(page)) {
          if (seen.size > 0) throw new CliError(`a later page of ${pathname} is not a list`);
          // Not a list after all: printed as it came.
          return print(f, res);
        }
        items.push(...page.data);
        if (!page.has_more || !page.next_cursor) break;
        if (seen.has(page.next_cursor)) throw new CliError(`the server repeated a cursor of ${pathname}`);
        seen.add(page.next_cursor);
        query.set('starting_after', page.next_cursor);
      }
      stdout.write(`${JSON.stringify(items, null, 2)}\n`);
      return EXIT.ok;
    }
    const res = await send(query);
    // Checked before anything is written: a terminal gets either the whole answer or none of it.
    if (binaryOnTerminal(f, res)) return refuseBinary(f, res);
    include(res.lastResponse.status, res.lastResponse.headers);
    return print(f, res);
  } catch (err) {
    // No answer at all (connection refused, timeout): main() says so, with its hints.
    if (!(err instanceof TicketsError) || err.status === 0) throw err;
    include(err.status, err.headers);
    const problem = err.raw;
    if (typeof problem === 'string') {
      const text = stdout.isTTY ? printable(problem) : problem;
      stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    } else if (problem !== null && problem !== undefined)
      stdout.write(`${JSON.stringify(problem, null, 2)}\n`);
    const { title, detail } = (problem && typeof problem === 'object' ? problem : {}) as {
      title?: unknown;
      detail?: unknown;
    };
    const words = [title, detail].filter((w): w is string => typeof w === 'string' && w !== '');
    const said = words.length ? words.join(': ') : (STATUS_CODES[err.status] ?? 'error');
    f.io.stderr.write(`${f.out.errStyle.red('error:')} ${err.status} ${printable(said)}\n`);
    return EXIT.failure;
  }
}

/** The body as JSON when it is JSON; else undefined. */
function parsed(res: RawResponse): unknown {
  if (!isJson(res.contentType) || res.body.length === 0) return undefined;
  try {
    return JSON.parse(res.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function binaryOnTerminal(f: Factory, res: RawResponse): boolean {
  return (
    Boolean(f.io.stdout.isTTY) && !isJson(res.contentType) && !isText(res.contentType) && binary(res.body)
  );
}

function refuseBinary(f: Factory, res: RawResponse): number {
  const type = res.contentType.split(';')[0]!.trim();
  f.io.stderr.write(
    `${f.out.errStyle.red('error:')} refusing to write ${printable(type)} (${res.body.length} bytes) to the terminal; redirect stdout to a file (> out) or pipe it\n`,
  );
  return EXIT.usage;
}

/** JSON pretty-printed; text as it is (escapes made visible on a terminal); bytes unchanged when piped. */
function print(f: Factory, res: RawResponse): number {
  const stdout = f.io.stdout;
  if (res.body.length === 0) return EXIT.ok;
  const json = parsed(res);
  if (json !== undefined) {
    stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return EXIT.ok;
  }
  if (!stdout.isTTY) {
    stdout.write(res.body);
    return EXIT.ok;
  }
  if (binaryOnTerminal(f, res)) return refuseBinary(f, res);
  const text = printable(res.body.toString('utf8'));
  stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  return EXIT.ok;
}
