/**
 * E-mail without SendGrid's HTTP API: over SMTP (any relay, SendGrid's `smtp.sendgrid.net` included) and into a
 * local folder of `.eml` files (development, and a last resort when no provider is configured). Both build the
 * MIME message with nodemailer, so the two produce the same message.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTransport, type SendMailOptions, type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import {
  DeliveryError,
  type EmailMessage,
  type EmailTransport,
  type SendResult,
  withSignal,
} from '../modules/messaging/transport.js';
import { eml as emlOffThread } from '../render/pool.js';

/** Nodemailer's message for ours; dynamic templates are SendGrid's own and are ignored here (we send our HTML). */
function toNodemailer(message: EmailMessage): SendMailOptions {
  const headers: Record<string, string | { prepared: boolean; value: string }> = {
    'X-Tickets-Message-Id': message.messageId,
  };
  if (message.unsubscribeUrl) {
    headers['List-Unsubscribe'] = `<${message.unsubscribeUrl}>`;
    headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
  }
  // SendGrid's SMTP relay reads this header (and removes it) to set custom args and categories, so its Event
  // Webhook names our message just as it does for mail sent through the API. Other relays pass it on unread.
  // Prepared: nodemailer would otherwise MIME-encode the JSON, which SendGrid cannot read.
  headers['X-SMTPAPI'] = {
    prepared: true,
    value: JSON.stringify({
      unique_args: { message_id: message.messageId },
      ...(message.categories?.length ? { category: message.categories } : {}),
    }),
  };
  return {
    from: { name: message.from.name ?? '', address: message.from.email },
    to: { name: message.to.name ?? '', address: message.to.email },
    ...(message.replyTo ? { replyTo: message.replyTo } : {}),
    subject: message.subject,
    text: message.text,
    html: message.html,
    attachments: message.attachments.map((a) => ({
      filename: a.filename,
      content: a.content,
      contentType: a.contentType,
      ...(a.contentId ? { cid: a.contentId, contentDisposition: 'inline' as const } : {}),
    })),
    headers,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// SMTP
// ---------------------------------------------------------------------------------------------------------------

export interface SmtpOptions {
  /** `smtp://user:pass@host:port` (STARTTLS when offered) or `smtps://…` (TLS from the start); user and password URL-encoded. */
  url: string;
  /** Connection, greeting and socket-idle timeout, in milliseconds (default 30 s). */
  timeoutMs?: number;
}

/** Node's and nodemailer's error codes for a connection that failed or stalled: worth another attempt. */
const SMTP_TRANSIENT_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'ETLS',
  'EPROTOCOL',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** Mail over SMTP through a pool of connections (closed by `close()`). */
export class SmtpEmail implements EmailTransport {
  readonly name = 'smtp';
  private readonly transporter: Transporter<SMTPPool.SentMessageInfo>;

  constructor(options: SmtpOptions) {
    const timeout = options.timeoutMs ?? 30_000;
    const pool: SMTPPool.Options = {
      // Nodemailer reads host, port, secure and auth from the URL (and its query, e.g. `?tls.rejectUnauthorized=false`).
      url: options.url,
      pool: true,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
    };
    this.transporter = createTransport(pool);
  }

  async send(message: EmailMessage, signal?: AbortSignal): Promise<SendResult> {
    try {
      const info = await withSignal(this.transporter.sendMail(toNodemailer(message)), signal);
      return { providerMessageId: info.messageId ?? null };
    } catch (err) {
      throw smtpDeliveryError(err);
    }
  }

  async close(): Promise<void> {
    this.transporter.close();
  }
}

/**
 * SMTP reply codes mean the opposite of HTTP's: 4xx is a *temporary* failure (greylisting, a full mailbox,
 * "try again later"), 5xx a permanent one (no such user, message refused).
 */
function smtpDeliveryError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const e = (err ?? {}) as {
    message?: string;
    code?: string;
    responseCode?: number;
    command?: string;
    response?: string;
  };
  const message = e.message ?? String(err);
  if (typeof e.responseCode === 'number' && e.responseCode >= 400 && e.responseCode < 600) {
    const at = e.command ? ` at ${e.command}` : '';
    return new DeliveryError(
      `SMTP server answered ${e.response ?? e.responseCode}${at}`,
      e.responseCode < 500,
      { status: e.responseCode, cause: err },
    );
  }
  if (e.code && SMTP_TRANSIENT_CODES.has(e.code)) {
    return new DeliveryError(`SMTP server could not be reached: ${message}`, true, { cause: err });
  }
  // Nodemailer refusing the message itself (no recipients, invalid address, …).
  return new DeliveryError(`SMTP send failed: ${message}`, false, { cause: err });
}

// ---------------------------------------------------------------------------------------------------------------
// Local .eml files
// ---------------------------------------------------------------------------------------------------------------

const renderer = createTransport({ streamTransport: true, buffer: true, newline: 'unix' });

/** The complete MIME message (headers and body, `\n` line ends) as nodemailer would send it over SMTP. */
export async function renderEml(message: EmailMessage): Promise<Buffer> {
  // The transport's `newline` only names it in the log; the message's own option converts the line ends.
  const info = await renderer.sendMail({ ...toNodemailer(message), newline: 'unix' });
  return info.message as Buffer;
}

/** Writes each message to `${dir}/${messageId}.eml`, for a person (or a test) to open; nothing is sent. */
export class FileEmail implements EmailTransport {
  readonly name = 'file';

  constructor(private readonly options: { dir: string }) {}

  async send(message: EmailMessage, signal?: AbortSignal): Promise<SendResult> {
    // Our ids are `msg_…`; anything else could escape the folder.
    if (!/^[A-Za-z0-9_-]+$/.test(message.messageId)) {
      throw new DeliveryError(
        `message id ${JSON.stringify(message.messageId)} is not a safe file name`,
        false,
      );
    }
    if (signal?.aborted) throw new DeliveryError('sending was aborted', true, { cause: signal.reason });
    const eml = await emlOffThread(message).catch((err: unknown) => {
      throw new DeliveryError(`could not render the message: ${(err as Error).message}`, false, {
        cause: err,
      });
    });
    const fileName = `${message.messageId}.eml`;
    const path = join(this.options.dir, fileName);
    // Written aside and renamed into place, so a reader never sees half a message.
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      // Buyers' messages: readable by this account only (0700 folder, 0600 files).
      await mkdir(this.options.dir, { recursive: true, mode: 0o700 });
      await writeFile(tmp, eml, { mode: 0o600 });
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {});
      // A full disk or a folder not yet mounted may well pass; let the worker try again.
      throw new DeliveryError(`could not write ${path}: ${(err as Error).message}`, true, { cause: err });
    }
    return { providerMessageId: fileName };
  }
}
