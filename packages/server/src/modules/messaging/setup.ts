import type { Logger } from 'pino';
import type { MessagingConfig } from '../../config.js';
import type { Db } from '../../db/database.js';
import { FileEmail, SmtpEmail } from '../../integrations/email.js';
import { Ga4Client } from '../../integrations/ga4.js';
import { SendGridEmail, SendGridMarketing } from '../../integrations/sendgrid.js';
import { WhatsAppCloud } from '../../integrations/whatsapp.js';
import { Ga4Sender } from '../ga4/settings.js';
import { WebhookSender } from '../webhooks/deliver.js';
import { Marketing } from './marketing.js';
import { type Covers, Renderer } from './render.js';
import type { EmailTransport, WhatsAppTransport } from './transport.js';
import { Unsubscribes } from './unsubscribe.js';
import { CloudWhatsApp, FileWhatsApp } from './whatsapp-transport.js';
import { MessageWorker } from './worker.js';

/** SendGrid Marketing (contact lists), when SendGrid is set up. */
export function sendgridMarketing(config: MessagingConfig): SendGridMarketing | null {
  return config.sendgrid.apiKey
    ? new SendGridMarketing({
        apiKey: config.sendgrid.apiKey,
        baseUrl: config.sendgrid.apiUrl,
        timeoutMs: config.sendTimeoutMs,
      })
    : null;
}

/** SendGrid with an API key, else SMTP with a URL, else `.eml` files in the data dir; likewise for WhatsApp. */
export function transports(config: MessagingConfig): { email: EmailTransport; whatsapp: WhatsAppTransport } {
  const timeoutMs = config.sendTimeoutMs;
  const email: EmailTransport = config.sendgrid.apiKey
    ? new SendGridEmail({ apiKey: config.sendgrid.apiKey, baseUrl: config.sendgrid.apiUrl, timeoutMs })
    : config.smtpUrl
      ? new SmtpEmail({ url: config.smtpUrl, timeoutMs })
      : new FileEmail({ dir: config.outboxDir });
  const wa = config.whatsapp;
  const whatsapp: WhatsAppTransport =
    wa.token && wa.phoneNumberId && wa.appSecret
      ? new CloudWhatsApp(
          new WhatsAppCloud({
            baseUrl: wa.apiUrl,
            token: wa.token,
            phoneNumberId: wa.phoneNumberId,
            appSecret: wa.appSecret,
            timeoutMs,
            perSecond: wa.perSecond,
            ...(wa.verifyToken ? { verifyToken: wa.verifyToken } : {}),
          }),
        )
      : new FileWhatsApp(config.outboxDir);
  return { email, whatsapp };
}

export function describeTransports(config: MessagingConfig): { email: string; whatsapp: string } {
  const wa = config.whatsapp;
  return {
    email: config.sendgrid.apiKey
      ? 'sendgrid'
      : config.smtpUrl
        ? 'smtp'
        : `local outbox (${config.outboxDir})`,
    whatsapp: wa.token && wa.phoneNumberId && wa.appSecret ? 'whatsapp cloud api' : 'local outbox',
  };
}

/** `baseUrl`: where unsubscribe links point when TICKETS_PUBLIC_URL is not set. */
export function createWorker(
  db: Db,
  config: MessagingConfig,
  log: Logger,
  baseUrl: string,
  covers?: Covers,
  webhooks: { allowPrivate: boolean } = { allowPrivate: false },
): MessageWorker {
  const { email, whatsapp } = transports(config);
  const renderer = new Renderer(db, {
    from: config.from,
    language: config.whatsapp.language,
    unsubscribes: new Unsubscribes(db, config.publicUrl ?? baseUrl),
    baseUrl: config.publicUrl ?? baseUrl,
    ...(covers ? { covers } : {}),
  });
  return new MessageWorker(
    db,
    {
      renderer,
      email,
      whatsapp,
      log,
      marketing: new Marketing(db, null),
      webhooks: new WebhookSender(db, {
        allowPrivate: webhooks.allowPrivate,
        timeoutMs: config.sendTimeoutMs,
      }),
      ga4: new Ga4Sender(db, new Ga4Client(config.ga4Url)),
    },
    {
      concurrency: config.concurrency,
      pollMs: config.pollMs,
      maxAttempts: config.maxAttempts,
      retryBaseMs: config.retryBaseMs,
      leaseMs: config.leaseMs,
      // The transports time out first (they cannot be aborted mid-request), and a WhatsApp send is two requests
      // (the QR upload, then the message) after a rate-limit slot: this only ends a stuck send.
      sendTimeoutMs: config.sendTimeoutMs * 3 + 5000,
      reminderHours: config.reminderHours,
    },
  );
}
