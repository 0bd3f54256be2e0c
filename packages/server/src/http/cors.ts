import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteDef } from '@tickets/sdk';
import type { Principal } from './app.js';
import { forbidden } from './errors.js';

/**
 * CORS, for publishable keys only: a web page may call the storefront's routes from an origin its
 * organization lists (PUT /api/org/cors). Secret keys and sessions never get CORS headers, so a browser
 * refuses to hand their answers to a page: they belong on servers.
 *
 * A preflight (OPTIONS) carries no Authorization header, so it cannot tell whose key will follow. It is
 * approved for a storefront route when *some* organization lists the origin; the request that follows
 * is then checked against the key's own organization: a listed origin gets the CORS headers, any other
 * is refused with 403 `origin_not_allowed` before anything happens (so a page on an origin listed only
 * by another organization cannot even start a purchase with this key), and without CORS headers the
 * browser hides even that answer. A request without an Origin (a server, curl) is not a browser's and
 * is answered as usual: a publishable key's secret is public anyway, and its routes are all it can call.
 */
export interface CorsPolicy {
  /** Whether requests by this principal are answered cross-origin (publishable keys). */
  appliesTo(principal: Principal): boolean;
  /** Whether the organization lists the origin. */
  allowed(orgId: string, origin: string): Promise<boolean>;
  /** Whether any organization lists the origin (for preflights, which carry no key). */
  listedAnywhere(origin: string): Promise<boolean>;
}

const ALLOW_HEADERS = 'Authorization, Content-Type, Idempotency-Key';
const EXPOSE_HEADERS = 'X-Request-Id, Idempotency-Key, Idempotent-Replayed';
/** Seconds a browser may keep a preflight's answer. */
const MAX_AGE = '600';

/** The Origin header, if the request has exactly one that looks like one (`null` origins are not). */
function originOf(req: IncomingMessage): string | null {
  const origin = req.headers.origin;
  return typeof origin === 'string' && /^https?:\/\/[^/\s]+$/i.test(origin) ? origin : null;
}

/**
 * Answers a preflight for a storefront route (204 with the CORS headers) and returns true; otherwise
 * returns false and the request is handled as any OPTIONS (405: no CORS headers, the browser stops).
 */
export async function answerPreflight(
  policy: CorsPolicy,
  req: IncomingMessage,
  res: ServerResponse,
  routeAt: (method: string) => RouteDef | null,
): Promise<boolean> {
  const origin = originOf(req);
  const requested = req.headers['access-control-request-method'];
  if (!origin || typeof requested !== 'string') return false;
  const route = routeAt(requested.toUpperCase());
  if (!route?.storefront || !(await policy.listedAnywhere(origin))) return false;
  req.resume();
  res.statusCode = 204;
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('vary', 'Origin');
  res.setHeader('access-control-allow-methods', route.method);
  res.setHeader('access-control-allow-headers', ALLOW_HEADERS);
  res.setHeader('access-control-max-age', MAX_AGE);
  res.setHeader('cache-control', 'no-store');
  res.end();
  return true;
}

/**
 * For an authenticated request: adds the CORS headers when the principal's organization lists the
 * request's origin, refuses it (403) when it is a publishable key's browser request from another
 * origin, and does nothing otherwise. Set before the handler runs, so errors are readable too.
 */
export async function applyCors(
  policy: CorsPolicy,
  req: IncomingMessage,
  res: ServerResponse,
  route: RouteDef,
  principal: Principal,
): Promise<void> {
  if (route.storefront) res.setHeader('vary', 'Origin');
  if (req.headers.origin === undefined || !policy.appliesTo(principal)) return;
  const origin = originOf(req);
  if (!origin || !(await policy.allowed(principal.orgId, origin)))
    throw forbidden(
      `Web pages at ${origin ?? 'this origin'} may not use this publishable key: add the origin to the organization's allowed origins (PUT /api/org/cors).`,
      'origin_not_allowed',
    );
  res.setHeader('access-control-allow-origin', origin);
  res.setHeader('vary', 'Origin');
  res.setHeader('access-control-expose-headers', EXPOSE_HEADERS);
}
