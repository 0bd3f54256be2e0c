import { z } from 'zod';
import { ApiKeyId, Email, InvitationId, OrganizationId, Timestamp, UserId } from './common.js';

export const Role = z.enum(['owner', 'admin', 'staff']);
export type Role = z.output<typeof Role>;

/**
 * `full` acts with admin rights; `checkin` can only validate tickets (door devices); `publishable`
 * (alone, secret `pk_…`) may only read published events, their visible ticket types and availability,
 * and start online payments: safe to ship in a web page.
 */
export const ApiKeyScope = z.enum(['full', 'checkin', 'publishable']);
export type ApiKeyScope = z.output<typeof ApiKeyScope>;

export const Password = z.string().min(10, 'must be at least 10 characters').max(256);

export const User = z
  .object({
    id: UserId,
    object: z.literal('user'),
    email: z.string(),
    name: z.string(),
    created_at: Timestamp,
  })
  .meta({ id: 'User' });
export type User = z.output<typeof User>;

export const Organization = z
  .object({
    id: OrganizationId,
    object: z.literal('organization'),
    name: z.string(),
    contact_email: z
      .string()
      .nullable()
      .describe("Where buyers' replies go (the Reply-To of every e-mail); null: the first owner's address"),
    created_at: Timestamp,
  })
  .meta({ id: 'Organization' });
export type Organization = z.output<typeof Organization>;

/** PATCH /api/org: fields left out keep their value; a null contact_email goes back to the owner's. */
export const OrganizationUpdateInput = z
  .strictObject({
    name: z.string().trim().min(1).max(200).optional(),
    contact_email: Email.nullish(),
  })
  .refine((v) => Object.keys(v).length > 0, 'give name or contact_email');
export type OrganizationUpdateInput = z.input<typeof OrganizationUpdateInput>;

export const RegisterInput = z.strictObject({
  email: Email,
  password: Password,
  name: z.string().trim().min(1).max(200),
  organization_name: z.string().trim().min(1).max(200).optional().describe('Defaults to "<name>\'s events"'),
  invitation: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe("An invitation's token: join the inviting organization instead of creating one of your own"),
});
export type RegisterInput = z.input<typeof RegisterInput>;

export const LoginInput = z.strictObject({
  email: Email,
  password: z.string().min(1).max(256),
  organization_id: OrganizationId.optional().describe('Act in this organization; defaults to the first one'),
});
export type LoginInput = z.input<typeof LoginInput>;

export const RefreshInput = z.strictObject({
  refresh_token: z.string().min(1).max(200),
  organization_id: OrganizationId.optional().describe('Switch to another organization the user belongs to'),
});
export type RefreshInput = z.input<typeof RefreshInput>;

export const LogoutInput = z.strictObject({ refresh_token: z.string().min(1).max(200) });
export type LogoutInput = z.input<typeof LogoutInput>;

export const PasswordResetRequestInput = z.strictObject({
  email: Email.describe('The account’s e-mail: a reset link goes there if an account has it'),
});
export type PasswordResetRequestInput = z.input<typeof PasswordResetRequestInput>;

export const PasswordResetRequested = z
  .object({
    object: z.literal('password_reset_request'),
    email: z.string(),
    expires_in_seconds: z
      .number()
      .int()
      .describe('How long the e-mailed token is valid; the same answer whether or not the account exists'),
  })
  .meta({ id: 'PasswordResetRequested' });
export type PasswordResetRequested = z.output<typeof PasswordResetRequested>;

export const PasswordResetInput = z.strictObject({
  token: z.string().trim().min(1).max(200).describe('The token from the e-mail (pwr_…)'),
  password: Password,
});
export type PasswordResetInput = z.input<typeof PasswordResetInput>;

export const GoogleLoginInput = z.strictObject({
  id_token: z.string().min(1).max(8192),
  organization_id: OrganizationId.optional(),
});
export type GoogleLoginInput = z.input<typeof GoogleLoginInput>;

export const FacebookLoginInput = z.strictObject({
  access_token: z.string().min(1).max(8192),
  organization_id: OrganizationId.optional(),
});
export type FacebookLoginInput = z.input<typeof FacebookLoginInput>;

export const Session = z
  .object({
    object: z.literal('session'),
    token_type: z.literal('Bearer'),
    access_token: z.string(),
    expires_in: z.number().int().describe('Seconds until the access token expires'),
    refresh_token: z.string().describe('Opaque; rotated on every use'),
    user: User,
    organization: Organization,
    role: Role,
  })
  .meta({ id: 'Session' });
export type Session = z.output<typeof Session>;

export const Membership = z.object({ organization: Organization, role: Role });
export type Membership = z.output<typeof Membership>;

export const Me = z
  .object({
    object: z.literal('me'),
    user: User.nullable().describe('Null when authenticated with an API key'),
    organization: Organization,
    role: Role.nullable(),
    api_key: z.object({ id: ApiKeyId, name: z.string(), scopes: z.array(ApiKeyScope) }).nullable(),
    memberships: z.array(Membership),
  })
  .meta({ id: 'Me' });
export type Me = z.output<typeof Me>;

export const Member = z
  .object({
    object: z.literal('member'),
    user: User,
    role: Role,
    joined_at: Timestamp,
  })
  .meta({ id: 'Member' });
export type Member = z.output<typeof Member>;

export const MemberUpdateInput = z.strictObject({ role: Role });
export type MemberUpdateInput = z.input<typeof MemberUpdateInput>;

export const InvitationStatus = z.enum(['pending', 'accepted', 'revoked', 'expired']);
export const Invitation = z
  .object({
    id: InvitationId,
    object: z.literal('invitation'),
    email: z.string(),
    role: Role,
    status: InvitationStatus,
    created_at: Timestamp,
    expires_at: Timestamp,
    token: z
      .string()
      .optional()
      .describe('Only in the response that creates the invitation: give it to the invitee to accept'),
  })
  .meta({ id: 'Invitation' });
export type Invitation = z.output<typeof Invitation>;

export const InvitationCreateInput = z.strictObject({ email: Email, role: Role.default('staff') });
export type InvitationCreateInput = z.input<typeof InvitationCreateInput>;

export const InvitationAcceptInput = z.strictObject({ token: z.string().min(1).max(200) });
export type InvitationAcceptInput = z.input<typeof InvitationAcceptInput>;

export const ApiKey = z
  .object({
    id: ApiKeyId,
    object: z.literal('api_key'),
    name: z.string(),
    scopes: z.array(ApiKeyScope),
    prefix: z.string().describe('The first characters of the secret, to recognise it'),
    created_by: UserId.nullable(),
    created_at: Timestamp,
    last_used_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
  })
  .meta({ id: 'ApiKey' });
export type ApiKey = z.output<typeof ApiKey>;

export const ApiKeyCreated = ApiKey.extend({
  secret: z
    .string()
    .describe('The key itself: tk_… (secret), or pk_… for a publishable key. Shown only once.'),
}).meta({ id: 'ApiKeyCreated' });
export type ApiKeyCreated = z.output<typeof ApiKeyCreated>;

// A publishable key is a scope rather than a separate kind of key: it is listed, revoked and
// authenticated like every other key, and the role matrix has a column per scope. It cannot be combined
// with another scope: its secret is public, so it must never carry more than the storefront's rights.
export const ApiKeyCreateInput = z.strictObject({
  name: z.string().trim().min(1).max(100),
  scopes: z
    .array(ApiKeyScope)
    .min(1)
    .default(['full'])
    .refine((s) => !s.includes('publishable') || s.every((x) => x === 'publishable'), {
      message: 'publishable cannot be combined with another scope (its secret is public)',
    })
    .describe('`publishable` alone makes a pk_… key for web pages'),
});
export type ApiKeyCreateInput = z.input<typeof ApiKeyCreateInput>;

/**
 * A web origin a storefront page is served from: `https://host[:port]`, or `http://localhost[:port]`
 * (also 127.0.0.1, [::1]) for development. No path, query or credentials; kept in its normal form.
 */
export const WebOrigin = z
  .string()
  .trim()
  .max(200)
  .refine(
    (value) => {
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        return false;
      }
      const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
      return (
        (url.protocol === 'https:' || (url.protocol === 'http:' && local)) &&
        url.hostname !== '' &&
        url.username === '' &&
        url.password === '' &&
        url.pathname === '/' &&
        !/[?#]/.test(value)
      );
    },
    { message: 'must be https://host[:port] (or http://localhost[:port]), without a path' },
  )
  .transform((value) => new URL(value).origin);

export const CorsSettings = z
  .object({
    object: z.literal('cors_settings'),
    allowed_origins: z
      .array(z.string())
      .describe('Web pages at these origins may call the API with a publishable key'),
  })
  .meta({ id: 'CorsSettings' });
export type CorsSettings = z.output<typeof CorsSettings>;

export const CorsSettingsInput = z.strictObject({
  allowed_origins: z.array(WebOrigin).max(50).describe('Replaces the whole list; [] allows none'),
});
export type CorsSettingsInput = z.input<typeof CorsSettingsInput>;
