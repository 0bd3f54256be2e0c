import { PERMISSIONS, type Permission, type Role } from '@tickets/sdk';
import type { Principal } from '../../http/app.js';

/** What each member role and each API key scope may do. */
const ALL: Permission[] = [...PERMISSIONS];
const ROLE_PERMISSIONS: Record<Role, ReadonlySet<string>> = {
  owner: new Set(ALL),
  admin: new Set(ALL),
  // Staff run the door and read attendee lists; selling, refunds and revenue are for owners and admins.
  staff: new Set(['org:read', 'events:read', 'attendees:read', 'checkin']),
};
// Keys cannot manage members or mint keys: a leaked key must not be able to entrench itself.
const SCOPE_PERMISSIONS: Record<string, readonly string[]> = {
  full: ALL.filter((p) => p !== 'members:manage' && p !== 'api_keys:manage'),
  checkin: ['checkin'],
};

export function allows(principal: Principal, permission: string): boolean {
  if (principal.kind === 'user') return ROLE_PERMISSIONS[principal.role].has(permission);
  return principal.scopes.some((s) => SCOPE_PERMISSIONS[s]?.includes(permission));
}
