import { PERMISSIONS, type Permission, type Role, type RouteDef } from '@tickets/sdk';
import type { Principal } from '../../http/app.js';
import { forbidden } from '../../http/errors.js';

/** What each member role and each API key scope may do. */
const ALL: Permission[] = [...PERMISSIONS];
const ROLE_PERMISSIONS: Record<Role, ReadonlySet<string>> = {
  owner: new Set(ALL),
  admin: new Set(ALL),
  // Staff run the door and read attendee lists; selling, refunds and revenue are for owners and admins.
  // Nor do they make storefront sales (`storefront`: what a publishable key they create may do).
  staff: new Set(['org:read', 'members:read', 'events:read', 'attendees:read', 'checkin']),
};
// Keys cannot manage members or mint keys: a leaked key must not be able to entrench itself. Nor do they
// read who the members are (their names and addresses): no integration needs them.
const SCOPE_PERMISSIONS: Record<string, readonly string[]> = {
  full: ALL.filter((p) => p !== 'members:manage' && p !== 'api_keys:manage' && p !== 'members:read'),
  checkin: ['checkin'],
  // Its secret is in every visitor's browser: the storefront's routes (RouteDef.storefront), nothing else.
  publishable: ['storefront'],
};

/** A publishable key (pk_…): may call only the storefront's routes, whatever else they are open to. */
export function isPublishable(principal: Principal | null): boolean {
  return principal?.kind === 'api_key' && principal.scopes.includes('publishable');
}

/** A key may do what its scopes allow and, at the same time, what its creator's current role allows. */
export function allows(principal: Principal, permission: string): boolean {
  if (principal.kind === 'user') return ROLE_PERMISSIONS[principal.role].has(permission);
  if (principal.creatorRole && !ROLE_PERMISSIONS[principal.creatorRole].has(permission)) return false;
  return principal.scopes.some((s) => SCOPE_PERMISSIONS[s]?.includes(permission));
}

/** The principals the role matrix has a column for: each member role, and each key scope (made by an owner). */
export const MATRIX_COLUMNS = [
  { label: 'owner', principal: { kind: 'user', userId: 'u', orgId: 'o', role: 'owner' } },
  { label: 'admin', principal: { kind: 'user', userId: 'u', orgId: 'o', role: 'admin' } },
  { label: 'staff', principal: { kind: 'user', userId: 'u', orgId: 'o', role: 'staff' } },
  {
    label: '`full` key',
    principal: { kind: 'api_key', keyId: 'k', orgId: 'o', scopes: ['full'], creatorRole: 'owner' },
  },
  {
    label: '`checkin` key',
    principal: { kind: 'api_key', keyId: 'k', orgId: 'o', scopes: ['checkin'], creatorRole: 'owner' },
  },
  {
    label: '`publishable` key',
    principal: { kind: 'api_key', keyId: 'k', orgId: 'o', scopes: ['publishable'], creatorRole: 'owner' },
  },
] as const satisfies readonly { label: string; principal: Principal }[];

type Guard = Pick<RouteDef, 'auth' | 'storefront'>;

/** Whether a principal may call a route (public routes: anyone). */
export function mayCall(principal: Principal, route: Guard): boolean {
  const { auth } = route;
  if (auth === 'public') return true;
  // Not even `any` routes (who am I, an event's public key): a publishable key reads the storefront only.
  if (isPublishable(principal)) return route.storefront === true && allows(principal, 'storefront');
  if (auth === 'any') return true;
  if (auth === 'session') return principal.kind === 'user';
  return allows(principal, auth) || (route.storefront === true && allows(principal, 'storefront'));
}

/** Throws the 403 a principal gets for a route it may not call. */
export function authorize(principal: Principal, route: Guard): void {
  if (mayCall(principal, route)) return;
  if (isPublishable(principal))
    throw forbidden(
      'A publishable key may only read published events, their ticket types and availability, and start an online payment (POST /api/tickets/purchase with payment_method stripe). Use a secret key on your server for anything else.',
      'publishable_key_not_allowed',
    );
  if (route.auth === 'session')
    throw forbidden('This needs a signed-in user, not an API key.', 'user_required');
  throw forbidden(
    `Your ${principal.kind === 'user' ? 'role' : 'API key'} does not allow ${route.auth}.`,
    'insufficient_permission',
  );
}

/**
 * The role matrix as a Markdown table, from the route table itself (each route's `auth`) and the role
 * and scope grants above: the README's copy is generated from this (`pnpm docs:roles`), and a test
 * fails when they differ.
 */
export function roleMatrixMarkdown(routeTable: Record<string, Record<string, RouteDef>>): string {
  const head = `| Operation | ${MATRIX_COLUMNS.map((c) => c.label).join(' | ')} |`;
  const rule = `|---|${MATRIX_COLUMNS.map(() => ':-:').join('|')}|`;
  const rows = Object.values(routeTable)
    .flatMap((group) => Object.values(group))
    .filter((r) => r.auth !== 'public')
    .map(
      (r) =>
        `| \`${r.method} ${r.path}\` | ${MATRIX_COLUMNS.map((c) => (mayCall(c.principal, r) ? '✓' : '')).join(' | ')} |`,
    );
  return [head, rule, ...rows].join('\n');
}
