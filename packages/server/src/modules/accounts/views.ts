import type { Organization, User } from '@tickets/sdk';
import type { OrganizationRow, UserRow } from '../../db/schema.js';

export const userView = (u: Pick<UserRow, 'id' | 'email' | 'name' | 'created_at'>): User => ({
  id: u.id,
  object: 'user',
  email: u.email,
  name: u.name,
  created_at: u.created_at,
});

export const organizationView = (o: OrganizationRow): Organization => ({
  id: o.id,
  object: 'organization',
  name: o.name,
  contact_email: o.contact_email,
  created_at: o.created_at,
});
