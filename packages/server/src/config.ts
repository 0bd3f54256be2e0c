import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const seconds = z.coerce.number().int().min(1);
const url = z.url({ protocol: /^https?$/ });

function defaultDataDir(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'tickets');
}

const EnvSchema = z.object({
  PORT: port.default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  TICKETS_DATA_DIR: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^(sqlite:|postgres:\/\/|postgresql:\/\/)/, 'must start with sqlite: or postgres://')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** json: one JSON object per line on stdout (for a log collector); pretty: readable lines on stderr; auto: pretty on a terminal. */
  TICKETS_LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  TICKETS_BODY_LIMIT: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  TICKETS_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  TICKETS_ACCESS_TOKEN_TTL: seconds.default(900),
  TICKETS_REFRESH_TOKEN_TTL: seconds.default(30 * 24 * 3600),
  TICKETS_LOGIN_MAX_FAILURES: z.coerce.number().int().min(1).default(5),
  TICKETS_LOGIN_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).default(50),
  TICKETS_LOGIN_LOCKOUT: seconds.default(900),
  TICKETS_STOREFRONT_PURCHASES_PER_MINUTE: z.coerce.number().int().min(1).default(20),
  TICKETS_TRUST_PROXY: z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1')
    .default(false),
  TICKETS_SHUTDOWN_TIMEOUT: seconds.default(10),
  TICKETS_HEADERS_TIMEOUT: seconds.default(10),
  TICKETS_BODY_TIMEOUT: seconds.default(30),
  TICKETS_MAX_CONNECTIONS_PER_IP: z.coerce.number().int().min(1).default(256),
  TICKETS_REGISTER_MAX_PER_IP: z.coerce.number().int().min(1).default(20),
  TICKETS_REGISTER_MAX_PER_DOMAIN: z.coerce.number().int().min(1).default(100),
  TICKETS_HOLD_SWEEP_SECONDS: seconds.default(5),
  /** Bearer token that `GET /metrics` requires; without one, /metrics is not served at all. */
  TICKETS_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Where a worker process (`tickets server worker`, which serves no API) serves its /metrics. */
  TICKETS_METRICS_PORT: port.default(9464),
  /** Names this process's metrics (`instance` label) and Sentry events (server_name); default host:pid. */
  TICKETS_INSTANCE: z.string().min(1).optional(),
  /** Sentry: on when a DSN is set; nothing is sent otherwise. */
  SENTRY_DSN: z.url({ protocol: /^https?$/ }).optional(),
  SENTRY_ENVIRONMENT: z.string().min(1).default('production'),
  SENTRY_TRACES_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(0),
  /** 1: buyers' and users' e-mail addresses may go to Sentry with errors (off: ids only). */
  SENTRY_SEND_PII: z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1')
    .default(false),
  /** Refunds above this many minor units raise a security event (audit, metric, Sentry warning). */
  TICKETS_LARGE_REFUND_THRESHOLD: z.coerce.number().int().min(1).default(100_000),
  GOOGLE_CLIENT_ID: z.string().min(1).optional(),
  GOOGLE_JWKS_URL: url.default('https://www.googleapis.com/oauth2/v3/certs'),
  FACEBOOK_APP_ID: z.string().min(1).optional(),
  FACEBOOK_APP_SECRET: z.string().min(1).optional(),
  FACEBOOK_GRAPH_URL: url.default('https://graph.facebook.com/v21.0'),
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_/, 'must be a Stripe secret key (sk_… or rk_…)')
    .optional(),
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_/, 'must be a webhook signing secret (whsec_…)')
    .optional(),
  STRIPE_API_URL: url.default('https://api.stripe.com'),
  TICKETS_MAIL_FROM: z.string().min(3).default('tickets@localhost'),
  SENDGRID_API_KEY: z.string().min(1).optional(),
  SENDGRID_API_URL: url.default('https://api.sendgrid.com/'),
  SENDGRID_WEBHOOK_PUBLIC_KEY: z.string().min(1).optional(),
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
    .optional(),
  WHATSAPP_TOKEN: z.string().min(1).optional(),
  WHATSAPP_PHONE_NUMBER_ID: z.string().min(1).optional(),
  WHATSAPP_APP_SECRET: z.string().min(1).optional(),
  WHATSAPP_VERIFY_TOKEN: z.string().min(1).optional(),
  WHATSAPP_API_URL: url.default('https://graph.facebook.com/v21.0'),
  /** Google Analytics' Measurement Protocol host (…/mp/collect, …/debug/mp/collect); a test's fake. */
  TICKETS_GA4_URL: url.default('https://www.google-analytics.com'),
  WHATSAPP_LANGUAGE: z.string().min(2).default('en'),
  WHATSAPP_RATE_PER_SECOND: z.coerce.number().int().min(1).default(20),
  TICKETS_WORKER: z.enum(['on', 'off']).default('on'),
  /** Threads drawing PDFs and QR images (see render/pool.ts); by default one less than the cores. */
  TICKETS_RENDER_THREADS: z.coerce.number().int().min(1).max(64).optional(),
  TICKETS_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(200).default(16),
  TICKETS_WORKER_POLL_MS: z.coerce.number().int().min(10).default(1000),
  TICKETS_MESSAGE_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
  TICKETS_MESSAGE_RETRY_BASE_MS: z.coerce.number().int().min(1).default(30_000),
  TICKETS_MESSAGE_LEASE_SECONDS: seconds.default(300),
  TICKETS_SEND_TIMEOUT_SECONDS: seconds.default(20),
  TICKETS_REMINDER_HOURS: z.coerce.number().int().min(0).default(24),
  TICKETS_PUBLIC_URL: url.optional(),
  /** Webhook endpoints may be http:// (development only). */
  TICKETS_WEBHOOK_ALLOW_HTTP: z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1')
    .default(false),
  /** Webhook endpoints may be on loopback and private addresses (tests, an intranet). */
  TICKETS_WEBHOOK_ALLOW_PRIVATE: z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1')
    .default(false),
  /** cloudinary://key:secret@cloud: media goes to Cloudinary; unset: the local store under the data dir. */
  CLOUDINARY_URL: z
    .string()
    .regex(/^cloudinary:\/\/[^:]+:[^@]+@[\w-]+/, 'must look like cloudinary://API_KEY:API_SECRET@CLOUD_NAME')
    .optional(),
  /** Delivery URLs' base instead of https://res.cloudinary.com (a custom CDN domain; a test's fake). */
  TICKETS_CLOUDINARY_DELIVERY_URL: url.optional(),
  /** Video goes to Cloudinary in chunks of this many bytes (Cloudinary wants at least 5 MB but for the last). */
  TICKETS_CLOUDINARY_CHUNK_BYTES: z.coerce
    .number()
    .int()
    .min(5 * 1024 * 1024)
    .default(20_000_000),
  TICKETS_MEDIA_MAX_IMAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(20 * 1024 * 1024),
  TICKETS_MEDIA_MAX_VIDEO_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(200 * 1024 * 1024),
  /** Width × height an image may have (a small file can decode to gigabytes: a decompression bomb). */
  TICKETS_MEDIA_MAX_PIXELS: z.coerce.number().int().min(1).default(50_000_000),
  /** from-url may fetch from loopback and private addresses (tests, a trusted intranet); never in production. */
  TICKETS_MEDIA_ALLOW_PRIVATE_URLS: z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1')
    .default(false),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl: string;
  logLevel: string;
  logFormat: 'auto' | 'json' | 'pretty';
  bodyLimit: number;
  jwtSecret?: string;
  accessTokenTtl: number;
  refreshTokenTtl: number;
  login: { maxFailures: number; maxFailuresPerIp: number; lockoutSeconds: number };
  /** Purchases a publishable key may start per minute from one client address (each holds seats). */
  storefrontPurchasesPerMinute: number;
  trustProxy: boolean;
  shutdownTimeoutMs: number;
  /**
   * Slow clients: how long a request's headers, then its body, may take to arrive (then 408 and the
   * connection closed), and how many connections one address may hold open at once.
   */
  limits: { headersTimeoutMs: number; bodyTimeoutMs: number; connectionsPerIp: number };
  /** Sign-ups per client address and per e-mail domain in an hour; past them, 429 with Retry-After. */
  registration: { maxPerIp: number; maxPerDomain: number };
  /** How often expired holds are swept back into inventory. */
  holdSweepMs: number;
  /** GET /metrics's bearer token (unset: not served), and this process's name in metrics and Sentry. */
  metrics: { token?: string; instance?: string; workerPort: number };
  sentry: { dsn?: string; environment: string; tracesSampleRate: number; sendPii: boolean };
  /** Refunds above this (minor units, any currency) raise a security event. */
  largeRefundThreshold: number;
  /** Threads drawing PDFs and QR images; unset: one less than the cores. */
  renderThreads?: number;
  google: { clientId?: string; jwksUrl: string };
  facebook: { appId?: string; appSecret?: string; graphUrl: string };
  stripe: { secretKey?: string; webhookSecret?: string; apiUrl: string };
  messaging: MessagingConfig;
  media: MediaConfig;
  /** Organizers' webhook endpoints: which URLs they may have. */
  webhooks: { allowHttp: boolean; allowPrivate: boolean };
}

export interface MediaConfig {
  /** Cloudinary's URL (cloudinary://key:secret@cloud?…); unset: the local store. */
  cloudinaryUrl?: string;
  cloudinaryDeliveryUrl?: string;
  cloudinaryChunkBytes: number;
  /** The local store's directory (originals and the transformed copies it caches). */
  dir: string;
  maxImageBytes: number;
  maxVideoBytes: number;
  maxPixels: number;
  allowPrivateUrls: boolean;
  /** Base URL of this server as browsers reach it (the local store's delivery URLs); unset: where it listens. */
  publicUrl?: string;
}

export interface MessagingConfig {
  /** Sender of every e-mail; the organization's name is shown as its display name. */
  from: string;
  sendgrid: { apiKey?: string; apiUrl: string; webhookPublicKey?: string };
  smtpUrl?: string;
  whatsapp: {
    token?: string;
    phoneNumberId?: string;
    appSecret?: string;
    verifyToken?: string;
    apiUrl: string;
    language: string;
    perSecond: number;
  };
  /** Where messages go when no provider is set up: `.eml` and `.json` files a newcomer can open. */
  outboxDir: string;
  /** Run the delivery worker inside the API server (`off`: run `tickets server worker` instead). */
  inProcessWorker: boolean;
  concurrency: number;
  pollMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  leaseMs: number;
  sendTimeoutMs: number;
  reminderHours: number;
  /** Base URL of this server as readers reach it (unsubscribe links); unset: the URL the server listens on. */
  publicUrl?: string;
  /** Google Analytics' Measurement Protocol host (server-side e-commerce events go through the outbox). */
  ga4Url: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Reads the environment; throws a ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success)
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0]);
        return `${name}=${JSON.stringify(env[name] ?? '')}: ${i.message}`;
      }),
    );
  const e = parsed.data;
  const problems: string[] = [];
  if (Boolean(e.FACEBOOK_APP_ID) !== Boolean(e.FACEBOOK_APP_SECRET))
    problems.push('FACEBOOK_APP_ID and FACEBOOK_APP_SECRET must be set together');
  if (Boolean(e.STRIPE_SECRET_KEY) !== Boolean(e.STRIPE_WEBHOOK_SECRET))
    problems.push(
      'STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET must be set together (payments are confirmed by webhook)',
    );
  const wa = [e.WHATSAPP_TOKEN, e.WHATSAPP_PHONE_NUMBER_ID, e.WHATSAPP_APP_SECRET];
  if (wa.some(Boolean) && !wa.every(Boolean))
    problems.push('WHATSAPP_TOKEN, WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_APP_SECRET must be set together');
  if (e.SENDGRID_API_KEY && e.SMTP_URL)
    problems.push('SENDGRID_API_KEY and SMTP_URL: choose one e-mail transport');
  if (problems.length) throw new ConfigError(problems);
  const dataDir = e.TICKETS_DATA_DIR ?? defaultDataDir(env);
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir,
    databaseUrl: e.DATABASE_URL ?? `sqlite:${join(dataDir, 'tickets.db')}`,
    logLevel: e.LOG_LEVEL,
    logFormat: e.TICKETS_LOG_FORMAT,
    bodyLimit: e.TICKETS_BODY_LIMIT,
    jwtSecret: e.TICKETS_JWT_SECRET,
    accessTokenTtl: e.TICKETS_ACCESS_TOKEN_TTL,
    refreshTokenTtl: e.TICKETS_REFRESH_TOKEN_TTL,
    login: {
      maxFailures: e.TICKETS_LOGIN_MAX_FAILURES,
      maxFailuresPerIp: e.TICKETS_LOGIN_MAX_FAILURES_PER_IP,
      lockoutSeconds: e.TICKETS_LOGIN_LOCKOUT,
    },
    storefrontPurchasesPerMinute: e.TICKETS_STOREFRONT_PURCHASES_PER_MINUTE,
    trustProxy: e.TICKETS_TRUST_PROXY,
    shutdownTimeoutMs: e.TICKETS_SHUTDOWN_TIMEOUT * 1000,
    limits: {
      headersTimeoutMs: e.TICKETS_HEADERS_TIMEOUT * 1000,
      bodyTimeoutMs: e.TICKETS_BODY_TIMEOUT * 1000,
      connectionsPerIp: e.TICKETS_MAX_CONNECTIONS_PER_IP,
    },
    registration: {
      maxPerIp: e.TICKETS_REGISTER_MAX_PER_IP,
      maxPerDomain: e.TICKETS_REGISTER_MAX_PER_DOMAIN,
    },
    holdSweepMs: e.TICKETS_HOLD_SWEEP_SECONDS * 1000,
    metrics: {
      token: e.TICKETS_METRICS_TOKEN,
      instance: e.TICKETS_INSTANCE,
      workerPort: e.TICKETS_METRICS_PORT,
    },
    sentry: {
      dsn: e.SENTRY_DSN,
      environment: e.SENTRY_ENVIRONMENT,
      tracesSampleRate: e.SENTRY_TRACES_SAMPLE_RATE,
      sendPii: e.SENTRY_SEND_PII,
    },
    largeRefundThreshold: e.TICKETS_LARGE_REFUND_THRESHOLD,
    renderThreads: e.TICKETS_RENDER_THREADS,
    google: { clientId: e.GOOGLE_CLIENT_ID, jwksUrl: e.GOOGLE_JWKS_URL },
    facebook: { appId: e.FACEBOOK_APP_ID, appSecret: e.FACEBOOK_APP_SECRET, graphUrl: e.FACEBOOK_GRAPH_URL },
    stripe: {
      secretKey: e.STRIPE_SECRET_KEY,
      webhookSecret: e.STRIPE_WEBHOOK_SECRET,
      apiUrl: e.STRIPE_API_URL,
    },
    messaging: {
      from: e.TICKETS_MAIL_FROM,
      sendgrid: {
        apiKey: e.SENDGRID_API_KEY,
        apiUrl: e.SENDGRID_API_URL,
        webhookPublicKey: e.SENDGRID_WEBHOOK_PUBLIC_KEY,
      },
      smtpUrl: e.SMTP_URL,
      whatsapp: {
        token: e.WHATSAPP_TOKEN,
        phoneNumberId: e.WHATSAPP_PHONE_NUMBER_ID,
        appSecret: e.WHATSAPP_APP_SECRET,
        verifyToken: e.WHATSAPP_VERIFY_TOKEN,
        apiUrl: e.WHATSAPP_API_URL,
        language: e.WHATSAPP_LANGUAGE,
        perSecond: e.WHATSAPP_RATE_PER_SECOND,
      },
      ga4Url: e.TICKETS_GA4_URL,
      outboxDir: join(dataDir, 'outbox'),
      inProcessWorker: e.TICKETS_WORKER === 'on',
      concurrency: e.TICKETS_WORKER_CONCURRENCY,
      pollMs: e.TICKETS_WORKER_POLL_MS,
      maxAttempts: e.TICKETS_MESSAGE_MAX_ATTEMPTS,
      retryBaseMs: e.TICKETS_MESSAGE_RETRY_BASE_MS,
      leaseMs: e.TICKETS_MESSAGE_LEASE_SECONDS * 1000,
      sendTimeoutMs: e.TICKETS_SEND_TIMEOUT_SECONDS * 1000,
      reminderHours: e.TICKETS_REMINDER_HOURS,
      publicUrl: e.TICKETS_PUBLIC_URL,
    },
    webhooks: { allowHttp: e.TICKETS_WEBHOOK_ALLOW_HTTP, allowPrivate: e.TICKETS_WEBHOOK_ALLOW_PRIVATE },
    media: {
      cloudinaryUrl: e.CLOUDINARY_URL,
      cloudinaryDeliveryUrl: e.TICKETS_CLOUDINARY_DELIVERY_URL,
      cloudinaryChunkBytes: e.TICKETS_CLOUDINARY_CHUNK_BYTES,
      dir: join(dataDir, 'media'),
      maxImageBytes: e.TICKETS_MEDIA_MAX_IMAGE_BYTES,
      maxVideoBytes: e.TICKETS_MEDIA_MAX_VIDEO_BYTES,
      maxPixels: e.TICKETS_MEDIA_MAX_PIXELS,
      allowPrivateUrls: e.TICKETS_MEDIA_ALLOW_PRIVATE_URLS,
      publicUrl: e.TICKETS_PUBLIC_URL,
    },
    ...overrides,
  };
}
