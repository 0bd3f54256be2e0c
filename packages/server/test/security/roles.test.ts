// One role matrix, in code: every route's `auth` in the contract and the grants of roles and key scopes
// (accounts/permissions.ts). The README's table is generated from it (`pnpm docs:roles`) and must equal
// it; and every operation is called as each principal — owner, admin, staff, a `full` key, a `checkin`
// key, a `publishable` key — to check the server answers as the table says, and as another organization's owner with this
// organization's real ids, which must find nothing.
import { readFileSync } from 'node:fs';
import { ID_PREFIXES, type RouteDef, routes } from '@tickets/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { type IdKind, newId } from '../../src/ids.js';
import { MATRIX_COLUMNS, mayCall, roleMatrixMarkdown } from '../../src/modules/accounts/permissions.js';
import { eventOnSale, http, signUp, startTestServer, type TestServer } from '../harness.js';

const README = new URL('../../../../README.md', import.meta.url);
const ALL_ROUTES = Object.values(routes).flatMap((group) => Object.values(group) as RouteDef[]);

describe('the role matrix', () => {
  it("is the README's table, generated from the routes and grants (run `pnpm docs:roles` to update it)", () => {
    const readme = readFileSync(README, 'utf8');
    const table = /<!-- roles:start -->\n([\s\S]*?)\n<!-- roles:end -->/.exec(readme)?.[1] ?? '';
    // Compared cell by cell: a Markdown formatter may pad the columns.
    expect(cells(table)).toEqual(cells(roleMatrixMarkdown(routes)));
  });

  it('keeps members and keys from keys, and money and buyers from check-in keys', () => {
    const checkinKey = MATRIX_COLUMNS[4].principal;
    const fullKey = MATRIX_COLUMNS[3].principal;
    for (const r of ALL_ROUTES) {
      if (/members|api-keys|invitations/.test(r.path) && r.auth !== 'public' && r.auth !== 'any')
        expect(mayCall(fullKey, r), `${r.method} ${r.path}`).toBe(false);
      if (
        /\/(orders|refunds|invoices|attendees|messages|campaigns|lists|suppressions)\b|billing|invoice/.test(
          r.path,
        )
      )
        expect(mayCall(checkinKey, r), `${r.method} ${r.path}`).toBe(false);
    }
  });

  it('lets a publishable key call the storefront routes and nothing else', () => {
    const publishable = MATRIX_COLUMNS[5].principal;
    const callable = ALL_ROUTES.filter((r) => r.auth !== 'public' && mayCall(publishable, r));
    expect(callable.map((r) => `${r.method} ${r.path}`).sort()).toEqual(
      [
        'GET /api/events',
        'GET /api/events/:id',
        'GET /api/ticket-types/:id',
        'GET /api/tickets/availability',
        'GET /api/tickets/types',
        'POST /api/tickets/purchase',
      ].sort(),
    );
  });
});

/** A Markdown table's cells, trimmed, with separator rows reduced to their alignment. */
function cells(table: string): string[][] {
  return table
    .trim()
    .split('\n')
    .map((line) =>
      line
        .trim()
        .replace(/^\||\|$/g, '')
        .split('|')
        .map((c) => c.trim().replace(/^(:?)-+(:?)$/, '$1-$2')),
    );
}

/** A value the schema takes: a real id of this organization where one is known, else a fresh one of each kind. */
function sample(schema: z.ZodType, real: Partial<Record<IdKind, string>>): string | undefined {
  const kinds = Object.keys(ID_PREFIXES) as IdKind[];
  // An id that is not ours to make (a Stripe payout's, po_…) is taken from the schema's example.
  const example = (schema.meta() as { example?: unknown } | undefined)?.example;
  const candidates = [
    ...kinds.map((k) => real[k] ?? newId(k)),
    ...(typeof example === 'string' ? [example] : []),
    'order_confirmation',
    'x',
    '1',
  ];
  return candidates.find((c) => schema.safeParse(c).success);
}

/** An object the schema takes, filling each missing field with a sample (query strings: text only). */
function sampleObject(schema: z.ZodType, real: Partial<Record<IdKind, string>>): Record<string, string> {
  const obj: Record<string, string> = {};
  for (let round = 0; round < 5; round++) {
    const parsed = schema.safeParse(obj);
    if (parsed.success) break;
    for (const issue of parsed.error.issues) {
      const key = issue.path[0];
      if (typeof key !== 'string' || key in obj) continue;
      const kinds = Object.keys(ID_PREFIXES) as IdKind[];
      const candidates = [...kinds.map((k) => real[k] ?? newId(k)), 'order_confirmation', 'x', '1'];
      obj[key] =
        candidates.find((c) => {
          const tried = schema.safeParse({ ...obj, [key]: c });
          return tried.success || !tried.error.issues.some((i) => i.path[0] === key);
        }) ?? 'x';
    }
  }
  return obj;
}

/** The route's path and query filled in, with `real` ids where they fit. */
function urlOf(route: RouteDef, real: Partial<Record<IdKind, string>>): string {
  const shape = (route.params?.shape ?? {}) as Record<string, z.ZodType>;
  const path = route.path.replace(/:(\w+)/g, (_, name: string) => {
    const schema = shape[name];
    return encodeURIComponent((schema && sample(schema, real)) ?? 'x');
  });
  const query = route.query ? new URLSearchParams(sampleObject(route.query, real)).toString() : '';
  return query ? `${path}?${query}` : path;
}

describe('sqlite: every operation, as every principal', () => {
  let server: TestServer;
  let call: ReturnType<typeof http>;
  const tokens: Record<string, string> = {};
  let otherOwner: string;
  const real: Partial<Record<IdKind, string>> = {};

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    call = http(server.url);
    const owner = await signUp(server.url);
    tokens.owner = owner.token;
    for (const role of ['admin', 'staff'] as const) {
      const email = `${role}-${Date.now()}@example.com`;
      const invite = await call('POST', '/api/org/invitations', {
        token: owner.token,
        body: { email, role },
      });
      const own = await call('POST', '/api/auth/register', {
        body: { email, password: 'correct horse battery staple', name: role },
      });
      await call('POST', '/api/invitations/accept', {
        token: own.body.access_token,
        body: { token: invite.body.token },
      });
      const session = await call('POST', '/api/auth/refresh', {
        body: { refresh_token: own.body.refresh_token, organization_id: owner.session.organization.id },
      });
      expect(session.body.role).toBe(role);
      tokens[role] = session.body.access_token;
      real.user = session.body.user.id;
    }
    for (const scope of ['full', 'checkin', 'publishable'] as const) {
      const key = await call('POST', '/api/api-keys', {
        token: owner.token,
        body: { name: scope, scopes: [scope] },
      });
      tokens[`\`${scope}\` key`] = key.body.secret;
      real.apiKey = key.body.id;
    }
    otherOwner = (await signUp(server.url)).token;
    // This organization's real objects, for the other organization's owner to try.
    const sale = await eventOnSale(server.url, owner.token, { name: 'Matrix' }, [
      { name: 'GA', amount: 1000, capacity: 10 },
    ]);
    real.event = sale.eventId;
    real.ticketType = sale.typeIds[0];
    const order = await call('POST', '/api/tickets/purchase', {
      token: owner.token,
      body: {
        event: sale.eventId,
        items: [{ ticket_type: sale.typeIds[0], quantity: 1 }],
        buyer: { name: 'Buyer', email: 'buyer@example.com' },
        payment_method: 'manual',
      },
    });
    real.order = order.body.id;
    real.ticket = order.body.tickets[0].id;
    const lists = await call('GET', `/api/events/${sale.eventId}/checkin-lists`, { token: owner.token });
    real.checkinList = lists.body.data[0].id;
  });
  afterAll(() => server?.stop());

  const guarded = ALL_ROUTES.filter((r) => r.auth !== 'public');

  it.each(MATRIX_COLUMNS.map((c) => [c.label]))('%s gets exactly what the table grants', async (label) => {
    const column = MATRIX_COLUMNS.find((c) => c.label === label)!;
    const wrong: string[] = [];
    for (const route of guarded) {
      // Fresh ids: the permission is checked before anything is looked up, and nothing real is touched.
      const url = urlOf(route, {});
      const res = await call(route.method, url, {
        token: tokens[label],
        ...(route.body ? { body: {} } : {}),
      });
      const allowed = mayCall(column.principal, route);
      const denied = res.status === 403 || res.status === 401;
      if (allowed === denied)
        wrong.push(`${route.method} ${url} (${route.auth}): ${res.status} ${res.body?.code}`);
    }
    expect(wrong).toEqual([]);
  });

  it("another organization's owner finds none of this organization's objects", async () => {
    const leaked: string[] = [];
    for (const route of guarded) {
      if (!route.params && !route.query) continue;
      const url = urlOf(route, real);
      if (!Object.values(real).some((id) => id && url.includes(id))) continue;
      const res = await call(route.method, url, { token: otherOwner, ...(route.body ? { body: {} } : {}) });
      if (res.status < 400) leaked.push(`${route.method} ${url}: ${res.status}`);
    }
    expect(leaked).toEqual([]);
  });
});
