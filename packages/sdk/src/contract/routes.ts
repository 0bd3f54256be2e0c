import { z } from 'zod';
import {
  ApiKey,
  ApiKeyCreated,
  ApiKeyCreateInput,
  FacebookLoginInput,
  GoogleLoginInput,
  Invitation,
  InvitationAcceptInput,
  InvitationCreateInput,
  LoginInput,
  LogoutInput,
  Me,
  Member,
  Membership,
  MemberUpdateInput,
  Organization,
  RefreshInput,
  RegisterInput,
  Session,
} from './accounts.js';
import { ApiKeyId, Deleted, EventId, InvitationId, ListQuery, page, TicketTypeId, UserId } from './common.js';
import {
  Availability,
  AvailabilityQuery,
  Event,
  EventCreateInput,
  EventListQuery,
  EventUpdateInput,
  TicketType,
  TicketTypeCreateInput,
  TicketTypeListQuery,
  TicketTypeUpdateInput,
} from './events.js';
import {
  BillingDetails,
  BillingDetailsInput,
  CreditNoteParams,
  InvoiceParams,
  PdfBytes,
} from './invoices.js';
import {
  Attendee,
  EventPublicKey,
  ImageBytes,
  Order,
  OrderId,
  OrderListQuery,
  PurchaseInput,
  QrQuery,
  Refund,
  RefundInput,
  Ticket,
  TicketId,
  TicketListQuery,
  TransferInput,
} from './orders.js';

/** What a caller must hold to use a route. Roles and API-key scopes map onto these in the server. */
export const PERMISSIONS = [
  'org:read',
  'events:read',
  'events:write',
  'members:manage',
  'api_keys:manage',
  'orders:read',
  'orders:write',
  'attendees:read',
  'checkin',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * `public`: no credentials. `session`: a signed-in user (not an API key), any role.
 * `any`: any valid credential. Otherwise the permission the caller's role or key scope must grant.
 */
export type RouteAuth = 'public' | 'session' | 'any' | Permission;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RouteDef {
  method: HttpMethod;
  /** Path with `:name` parameters, e.g. `/api/events/:id`. */
  path: string;
  summary: string;
  tag: string;
  auth: RouteAuth;
  params?: z.ZodObject;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Null means 204 No Content. */
  response: z.ZodType | null;
  /** Success status; 200 unless said. */
  status?: number;
  /**
   * POSTs replay stored responses for a repeated Idempotency-Key. Off where the response carries a
   * secret (tokens, API keys) that must never be stored.
   */
  idempotent?: boolean;
  /** The body is taken raw (webhooks) rather than parsed as JSON. */
  rawBody?: boolean;
  /** A non-JSON answer (image, PDF): the handler replies with a Buffer, and `response` is not checked. */
  produces?: 'image/png' | 'image/svg+xml' | 'application/pdf';
}

const route = <const T extends RouteDef>(def: T): T => def;

const EventParams = z.object({ id: EventId });
const TicketTypeParams = z.object({ id: TicketTypeId });

export const routes = {
  health: {
    live: route({
      method: 'GET',
      path: '/api/health',
      summary: 'Liveness: the process answers',
      tag: 'health',
      auth: 'public',
      response: z.object({ status: z.literal('ok') }),
    }),
    ready: route({
      method: 'GET',
      path: '/api/health/ready',
      summary: 'Readiness: the database answers and its migrations are current (503 otherwise)',
      tag: 'health',
      auth: 'public',
      response: z.object({
        status: z.enum(['ready', 'not_ready']),
        database: z.enum(['ok', 'unreachable']),
        migrations: z.object({ current: z.boolean(), pending: z.array(z.string()) }),
      }),
    }),
    openapi: route({
      method: 'GET',
      path: '/api/openapi.json',
      summary: 'This API described as OpenAPI 3.1',
      tag: 'health',
      auth: 'public',
      response: z.record(z.string(), z.unknown()),
    }),
  },
  auth: {
    register: route({
      method: 'POST',
      path: '/api/auth/register',
      summary: 'Create a user and an organization it owns; signs in',
      tag: 'auth',
      auth: 'public',
      body: RegisterInput,
      response: Session,
      status: 201,
      idempotent: false,
    }),
    login: route({
      method: 'POST',
      path: '/api/auth/login',
      summary: 'Sign in with e-mail and password',
      tag: 'auth',
      auth: 'public',
      body: LoginInput,
      response: Session,
      idempotent: false,
    }),
    refresh: route({
      method: 'POST',
      path: '/api/auth/refresh',
      summary: 'Exchange a refresh token for new tokens (the old refresh token stops working)',
      tag: 'auth',
      auth: 'public',
      body: RefreshInput,
      response: Session,
      idempotent: false,
    }),
    logout: route({
      method: 'POST',
      path: '/api/auth/logout',
      summary: 'Revoke a refresh token and its whole family',
      tag: 'auth',
      auth: 'public',
      body: LogoutInput,
      response: null,
      idempotent: false,
    }),
    google: route({
      method: 'POST',
      path: '/api/auth/social/google',
      summary: 'Sign in (or up) with a Google ID token',
      tag: 'auth',
      auth: 'public',
      body: GoogleLoginInput,
      response: Session,
      idempotent: false,
    }),
    facebook: route({
      method: 'POST',
      path: '/api/auth/social/facebook',
      summary: 'Sign in (or up) with a Facebook user access token',
      tag: 'auth',
      auth: 'public',
      body: FacebookLoginInput,
      response: Session,
      idempotent: false,
    }),
  },
  me: {
    get: route({
      method: 'GET',
      path: '/api/me',
      summary: 'Who the credential belongs to, and in which organization it acts',
      tag: 'accounts',
      auth: 'any',
      response: Me,
    }),
  },
  orgs: {
    get: route({
      method: 'GET',
      path: '/api/org',
      summary: "The caller's organization",
      tag: 'organizations',
      auth: 'org:read',
      response: Organization,
    }),
    listMembers: route({
      method: 'GET',
      path: '/api/org/members',
      summary: 'Members of the organization',
      tag: 'organizations',
      auth: 'org:read',
      query: ListQuery,
      response: page(Member),
    }),
    updateMember: route({
      method: 'PUT',
      path: '/api/org/members/:id',
      summary: "Change a member's role",
      tag: 'organizations',
      auth: 'members:manage',
      params: z.object({ id: UserId }),
      body: MemberUpdateInput,
      response: Member,
    }),
    removeMember: route({
      method: 'DELETE',
      path: '/api/org/members/:id',
      summary: 'Remove a member from the organization',
      tag: 'organizations',
      auth: 'members:manage',
      params: z.object({ id: UserId }),
      response: Deleted,
    }),
    listInvitations: route({
      method: 'GET',
      path: '/api/org/invitations',
      summary: 'Invitations sent by the organization',
      tag: 'organizations',
      auth: 'members:manage',
      query: ListQuery,
      response: page(Invitation),
    }),
    invite: route({
      method: 'POST',
      path: '/api/org/invitations',
      summary: 'Invite someone by e-mail; the response carries the token they accept with',
      tag: 'organizations',
      auth: 'members:manage',
      body: InvitationCreateInput,
      response: Invitation,
      status: 201,
      idempotent: false,
    }),
    revokeInvitation: route({
      method: 'DELETE',
      path: '/api/org/invitations/:id',
      summary: 'Revoke a pending invitation',
      tag: 'organizations',
      auth: 'members:manage',
      params: z.object({ id: InvitationId }),
      response: Invitation,
    }),
    acceptInvitation: route({
      method: 'POST',
      path: '/api/invitations/accept',
      summary: 'Join the organization that invited the signed-in user (the e-mail must match)',
      tag: 'organizations',
      auth: 'session',
      body: InvitationAcceptInput,
      response: Membership,
    }),
  },
  apiKeys: {
    list: route({
      method: 'GET',
      path: '/api/api-keys',
      summary: "The organization's API keys (without their secrets)",
      tag: 'api-keys',
      auth: 'api_keys:manage',
      query: ListQuery,
      response: page(ApiKey),
    }),
    create: route({
      method: 'POST',
      path: '/api/api-keys',
      summary: 'Create an API key; its secret is shown only in this response',
      tag: 'api-keys',
      auth: 'api_keys:manage',
      body: ApiKeyCreateInput,
      response: ApiKeyCreated,
      status: 201,
      idempotent: false,
    }),
    revoke: route({
      method: 'DELETE',
      path: '/api/api-keys/:id',
      summary: 'Revoke an API key at once',
      tag: 'api-keys',
      auth: 'api_keys:manage',
      params: z.object({ id: ApiKeyId }),
      response: ApiKey,
    }),
  },
  events: {
    list: route({
      method: 'GET',
      path: '/api/events',
      summary: 'Events, soonest first, with filters',
      tag: 'events',
      auth: 'events:read',
      query: EventListQuery,
      response: page(Event),
    }),
    create: route({
      method: 'POST',
      path: '/api/events',
      summary: 'Create an event (as a draft)',
      tag: 'events',
      auth: 'events:write',
      body: EventCreateInput,
      response: Event,
      status: 201,
    }),
    get: route({
      method: 'GET',
      path: '/api/events/:id',
      summary: 'One event',
      tag: 'events',
      auth: 'events:read',
      params: EventParams,
      response: Event,
    }),
    update: route({
      method: 'PUT',
      path: '/api/events/:id',
      summary: 'Change an event; fields left out keep their value',
      tag: 'events',
      auth: 'events:write',
      params: EventParams,
      body: EventUpdateInput,
      response: Event,
    }),
    delete: route({
      method: 'DELETE',
      path: '/api/events/:id',
      summary: 'Delete an event that has no orders (cancel it otherwise)',
      tag: 'events',
      auth: 'events:write',
      params: EventParams,
      response: Deleted,
    }),
    publish: route({
      method: 'POST',
      path: '/api/events/:id/publish',
      summary: 'Publish a draft event: it goes on sale within its sales window',
      tag: 'events',
      auth: 'events:write',
      params: EventParams,
      response: Event,
    }),
    cancel: route({
      method: 'POST',
      path: '/api/events/:id/cancel',
      summary: 'Cancel an event: sales stop',
      tag: 'events',
      auth: 'events:write',
      params: EventParams,
      response: Event,
    }),
    complete: route({
      method: 'POST',
      path: '/api/events/:id/complete',
      summary: 'Mark a published event as completed',
      tag: 'events',
      auth: 'events:write',
      params: EventParams,
      response: Event,
    }),
  },
  ticketTypes: {
    list: route({
      method: 'GET',
      path: '/api/tickets/types',
      summary: "An event's ticket types, in sort order",
      tag: 'ticket-types',
      auth: 'events:read',
      query: TicketTypeListQuery,
      response: page(TicketType),
    }),
    create: route({
      method: 'POST',
      path: '/api/events/:id/ticket-types',
      summary: 'Add a ticket type to an event',
      tag: 'ticket-types',
      auth: 'events:write',
      params: EventParams,
      body: TicketTypeCreateInput,
      response: TicketType,
      status: 201,
    }),
    get: route({
      method: 'GET',
      path: '/api/ticket-types/:id',
      summary: 'One ticket type',
      tag: 'ticket-types',
      auth: 'events:read',
      params: TicketTypeParams,
      response: TicketType,
    }),
    update: route({
      method: 'PUT',
      path: '/api/ticket-types/:id',
      summary: 'Change a ticket type; fields left out keep their value',
      tag: 'ticket-types',
      auth: 'events:write',
      params: TicketTypeParams,
      body: TicketTypeUpdateInput,
      response: TicketType,
    }),
    delete: route({
      method: 'DELETE',
      path: '/api/ticket-types/:id',
      summary: 'Delete a ticket type that has sold or held nothing',
      tag: 'ticket-types',
      auth: 'events:write',
      params: TicketTypeParams,
      response: Deleted,
    }),
    availability: route({
      method: 'GET',
      path: '/api/tickets/availability',
      summary: 'Capacity, sold, held and available per ticket type, and whether each is on sale now',
      tag: 'ticket-types',
      auth: 'events:read',
      query: AvailabilityQuery,
      response: Availability,
    }),
  },
  orders: {
    purchase: route({
      method: 'POST',
      path: '/api/tickets/purchase',
      summary:
        'Buy tickets: free and manual orders are paid at once; online ones hold their tickets until paid',
      tag: 'orders',
      auth: 'orders:write',
      body: PurchaseInput,
      response: Order,
      status: 201,
    }),
    list: route({
      method: 'GET',
      path: '/api/orders',
      summary: 'Orders, newest first, with filters',
      tag: 'orders',
      auth: 'orders:read',
      query: OrderListQuery,
      response: page(Order),
    }),
    get: route({
      method: 'GET',
      path: '/api/orders/:id',
      summary: 'One order with its items and tickets',
      tag: 'orders',
      auth: 'orders:read',
      params: z.object({ id: OrderId }),
      response: Order,
    }),
    cancel: route({
      method: 'POST',
      path: '/api/orders/:id/cancel',
      summary: 'Cancel a pending order; its held tickets go back on sale',
      tag: 'orders',
      auth: 'orders:write',
      params: z.object({ id: OrderId }),
      response: Order,
    }),
    refund: route({
      method: 'POST',
      path: '/api/orders/:id/refund',
      summary: 'Refund all or part of a paid order; a full refund voids its tickets',
      tag: 'orders',
      auth: 'orders:write',
      params: z.object({ id: OrderId }),
      body: RefundInput,
      response: Refund,
      status: 201,
    }),
  },
  tickets: {
    get: route({
      method: 'GET',
      path: '/api/tickets/:id',
      summary: 'One ticket with its signed code',
      tag: 'tickets',
      auth: 'attendees:read',
      params: z.object({ id: TicketId }),
      response: Ticket,
    }),
    listForEvent: route({
      method: 'GET',
      path: '/api/events/:id/tickets',
      summary: "An event's tickets",
      tag: 'tickets',
      auth: 'attendees:read',
      params: EventParams,
      query: TicketListQuery,
      response: page(Ticket),
    }),
    attendees: route({
      method: 'GET',
      path: '/api/events/:id/attendees',
      summary: "An event's attendees: search by name, e-mail or order",
      tag: 'tickets',
      auth: 'attendees:read',
      params: EventParams,
      query: TicketListQuery,
      response: page(Attendee),
    }),
    refund: route({
      method: 'POST',
      path: '/api/tickets/:id/refund',
      summary: 'Refund one ticket (by default its price) and void it',
      tag: 'tickets',
      auth: 'orders:write',
      params: z.object({ id: TicketId }),
      body: RefundInput,
      response: Refund,
      status: 201,
    }),
    transfer: route({
      method: 'PUT',
      path: '/api/tickets/:id/transfer',
      summary: 'Give a ticket to someone else: a new code is issued and the old one is refused',
      tag: 'tickets',
      auth: 'orders:write',
      params: z.object({ id: TicketId }),
      body: TransferInput,
      response: Ticket,
    }),
    qrPng: route({
      method: 'GET',
      path: '/api/tickets/:id/qr.png',
      summary: "The ticket's signed code as a QR image (PNG), to show on a phone or print",
      tag: 'tickets',
      auth: 'attendees:read',
      params: z.object({ id: TicketId }),
      query: QrQuery,
      response: ImageBytes,
      produces: 'image/png',
    }),
    qrSvg: route({
      method: 'GET',
      path: '/api/tickets/:id/qr.svg',
      summary: "The ticket's signed code as a QR image (SVG), for print and e-mail",
      tag: 'tickets',
      auth: 'attendees:read',
      params: z.object({ id: TicketId }),
      query: QrQuery,
      response: ImageBytes,
      produces: 'image/svg+xml',
    }),
    publicKey: route({
      method: 'GET',
      path: '/api/events/:id/public-key',
      summary: "The event's Ed25519 public key, to verify ticket codes offline",
      tag: 'tickets',
      auth: 'any',
      params: EventParams,
      response: EventPublicKey,
    }),
  },
  invoices: {
    getBilling: route({
      method: 'GET',
      path: '/api/org/billing',
      summary: "The organization's billing details, as its invoices show them",
      tag: 'invoices',
      auth: 'orders:read',
      response: BillingDetails,
    }),
    updateBilling: route({
      method: 'PUT',
      path: '/api/org/billing',
      summary: 'Change the billing details; invoices already issued keep what they said',
      tag: 'invoices',
      auth: 'members:manage',
      body: BillingDetailsInput,
      response: BillingDetails,
    }),
    invoicePdf: route({
      method: 'GET',
      path: '/api/orders/:id/invoice.pdf',
      summary: "A paid order's invoice as PDF (404 until the order is paid)",
      tag: 'invoices',
      auth: 'orders:read',
      params: InvoiceParams,
      response: PdfBytes,
      produces: 'application/pdf',
    }),
    creditNotePdf: route({
      method: 'GET',
      path: '/api/refunds/:id/credit-note.pdf',
      summary: "A refund's credit note as PDF",
      tag: 'invoices',
      auth: 'orders:read',
      params: CreditNoteParams,
      response: PdfBytes,
      produces: 'application/pdf',
    }),
  },
  webhooks: {
    stripe: route({
      method: 'POST',
      path: '/api/webhooks/stripe',
      summary: 'Stripe events (signed with STRIPE_WEBHOOK_SECRET); each is applied once',
      tag: 'webhooks',
      auth: 'public',
      rawBody: true,
      idempotent: false,
      response: z.object({ received: z.literal(true), duplicate: z.boolean(), outcome: z.string() }),
    }),
  },
} as const;

export const allRoutes: RouteDef[] = Object.values(routes).flatMap((group) => Object.values(group));

export type RouteParams<R extends RouteDef> = R['params'] extends z.ZodType
  ? z.input<R['params']>
  : undefined;
export type RouteQuery<R extends RouteDef> = R['query'] extends z.ZodType ? z.input<R['query']> : undefined;
export type RouteBody<R extends RouteDef> = R['body'] extends z.ZodType ? z.input<R['body']> : undefined;
export type RouteResponse<R extends RouteDef> = R['response'] extends z.ZodType
  ? z.output<R['response']>
  : undefined;
