/**
 * What the messaging worker needs from a delivery channel. Each provider (SendGrid, SMTP, the WhatsApp Cloud API,
 * the local `.eml` folder) implements one of these; the worker owns retries, status and suppression.
 */

/** A file sent with an e-mail: attached, or inline when it has a `contentId` (referenced as `cid:…` in the HTML). */
export interface Attachment {
  filename: string;
  contentType: string;
  content: Buffer;
  contentId?: string;
}

export interface EmailMessage {
  /** Our message id (`msg_…`): sent to the provider as a custom argument so its webhooks can name the message. */
  messageId: string;
  to: { email: string; name?: string };
  from: { email: string; name?: string };
  replyTo?: string;
  subject: string;
  html: string;
  text: string;
  attachments: Attachment[];
  /** Set when the organization maps this template to a SendGrid dynamic template: SendGrid renders it instead. */
  dynamicTemplate?: { id: string; data: Record<string, unknown> };
  /** For marketing mail: the one-click unsubscribe address (also sent as List-Unsubscribe). */
  unsubscribeUrl?: string;
  /** e.g. `order_confirmation`, `campaign` — SendGrid categories, for the provider's own statistics. */
  categories?: string[];
}

export interface SendResult {
  /** The provider's id for the message (SendGrid's X-Message-Id, WhatsApp's wamid, SMTP's Message-ID, a file name). */
  providerMessageId: string | null;
}

/**
 * A failed delivery attempt. `retryable`: a timeout, a connection error, 429 or 5xx — try again later
 * (after `retryAfterMs` if the provider said so). Not retryable: any other 4xx — the message itself is wrong,
 * or the recipient is refused, and sending it again would fail the same way.
 */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly options: {
      status?: number;
      retryAfterMs?: number;
      cause?: unknown;
      /** How long the attempt took (a webhook's history shows it). */
      durationMs?: number;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'DeliveryError';
  }
}

export interface EmailTransport {
  /** `sendgrid`, `smtp` or `file`. */
  readonly name: string;
  send(message: EmailMessage, signal?: AbortSignal): Promise<SendResult>;
  close?(): Promise<void>;
}

/** A status the provider reports later, normalised across providers (webhooks of SendGrid and WhatsApp). */
export interface ProviderEvent {
  /** Our message id when the provider echoes it back (SendGrid custom_args, WhatsApp biz_opaque_callback_data). */
  messageId?: string;
  /** The provider's id of the message, when known. */
  providerMessageId?: string;
  status:
    | 'sent'
    | 'delivered'
    | 'opened'
    | 'clicked'
    | 'read'
    | 'bounced'
    | 'dropped'
    | 'deferred'
    | 'spamreport'
    | 'unsubscribed'
    | 'failed';
  /** The recipient address or phone number the event is about. */
  address?: string;
  /** The provider's reason (bounce reason, error title, …). */
  reason?: string;
  /** A bounce that will never succeed (SendGrid `bounce` with type `bounce`, not `blocked`). */
  hard?: boolean;
  at: Date;
  /** The provider's own id of the event, for applying it once. */
  eventId?: string;
}

/** A WhatsApp message as the worker hands it over: an approved template, with quick-reply buttons when it has them. */
export interface WhatsAppRequest {
  messageId: string;
  /** E.164, with the +. */
  to: string;
  template: { name: string; language: string; bodyParameters: string[] };
  /** The QR code, sent as the header image. */
  image?: Attachment;
  /** Quick-reply buttons (≤ 3) of the template; a press comes back with the button's id as its payload. */
  buttons?: { id: string; title: string }[];
  /** The same content as plain text, for the local outbox file. */
  text: string;
}

export interface WhatsAppTransport {
  /** `whatsapp` or `file`. */
  readonly name: string;
  send(request: WhatsAppRequest, signal?: AbortSignal): Promise<SendResult>;
}

/**
 * Rejects as soon as `signal` aborts. Neither @sendgrid/mail nor nodemailer takes a signal, so the exchange itself
 * runs on (to its own timeout) and the provider may still accept the message: a retry after an abort can send it
 * twice. The worker's abort is therefore set later than the transports' own timeouts.
 */
export function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  const aborted = () => new DeliveryError('sending was aborted', true, { cause: signal.reason });
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(aborted());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
