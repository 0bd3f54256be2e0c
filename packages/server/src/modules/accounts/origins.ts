import { type CorsSettings, routes } from '@tickets/sdk';
import type { Db } from '../../db/database.js';
import type { App, Principal } from '../../http/app.js';
import type { CorsPolicy } from '../../http/cors.js';
import { nowIso } from '../../time.js';
import { isPublishable } from './permissions.js';

/**
 * Lists read recently, by organization and by origin: every browser request with a publishable key
 * checks one. Kept a moment; a change in this process drops them at once, one in another process is
 * seen within that moment (like API keys and roles).
 */
const ORIGINS_CACHE_MS = 2_000;

/** The web origins each organization sells from with its publishable keys. */
export class AllowedOrigins implements CorsPolicy {
  private readonly byOrg = new Map<string, { origins: ReadonlySet<string>; until: number }>();
  private readonly anywhere = new Map<string, { listed: boolean; until: number }>();

  constructor(private readonly db: Db) {}

  async list(orgId: string): Promise<CorsSettings> {
    const rows = await this.db.kysely
      .selectFrom('allowed_origins')
      .select('origin')
      .where('org_id', '=', orgId)
      .orderBy('origin')
      .execute();
    return { object: 'cors_settings', allowed_origins: rows.map((r) => r.origin) };
  }

  /** Replaces the organization's list (already validated and normalized by the contract). */
  async replace(orgId: string, origins: string[]): Promise<CorsSettings> {
    const unique = [...new Set(origins)];
    const now = nowIso();
    await this.db.kysely.transaction().execute(async (trx) => {
      await trx.deleteFrom('allowed_origins').where('org_id', '=', orgId).execute();
      if (unique.length)
        await trx
          .insertInto('allowed_origins')
          .values(unique.map((origin) => ({ org_id: orgId, origin, created_at: now })))
          .execute();
    });
    this.byOrg.clear();
    this.anywhere.clear();
    return this.list(orgId);
  }

  appliesTo(principal: Principal): boolean {
    return isPublishable(principal);
  }

  async allowed(orgId: string, origin: string): Promise<boolean> {
    const hit = this.byOrg.get(orgId);
    if (hit && hit.until > Date.now()) return hit.origins.has(origin.toLowerCase());
    const { allowed_origins } = await this.list(orgId);
    if (this.byOrg.size >= 10_000) this.byOrg.delete(this.byOrg.keys().next().value as string);
    const origins = new Set(allowed_origins);
    this.byOrg.set(orgId, { origins, until: Date.now() + ORIGINS_CACHE_MS });
    return origins.has(origin.toLowerCase());
  }

  async listedAnywhere(origin: string): Promise<boolean> {
    const normal = origin.toLowerCase();
    const hit = this.anywhere.get(normal);
    if (hit && hit.until > Date.now()) return hit.listed;
    const row = await this.db.kysely
      .selectFrom('allowed_origins')
      .select('org_id')
      .where('origin', '=', normal)
      .executeTakeFirst();
    if (this.anywhere.size >= 10_000) this.anywhere.delete(this.anywhere.keys().next().value as string);
    this.anywhere.set(normal, { listed: row !== undefined, until: Date.now() + ORIGINS_CACHE_MS });
    return row !== undefined;
  }
}

export function originRoutes(app: App, origins: AllowedOrigins): void {
  app.handle(routes.orgs.cors, ({ principal }) => origins.list(principal.orgId));
  app.handle(routes.orgs.updateCors, ({ principal, body }) =>
    origins.replace(principal.orgId, body.allowed_origins),
  );
}
