import { routes } from '@tickets/sdk';
import type { Logger } from 'pino';
import type { MessagingConfig } from '../../config.js';
import type { Db } from '../../db/database.js';
import { type App, Reply } from '../../http/app.js';
import { ApiError, validationFailed } from '../../http/errors.js';
import { parseSendGridEvents, verifySendGridWebhook } from '../../integrations/sendgrid.js';
import {
  isOptOut,
  parseWhatsAppWebhook,
  verifyWhatsAppHandshake,
  verifyWhatsAppSignature,
} from '../../integrations/whatsapp.js';
import { countedWebhook } from '../../observability/webhooks.js';
import { nowIso } from '../../time.js';
import type { Marketing } from './marketing.js';
import { type Messages, messageView, suppress } from './service.js';
import type { Unsubscribes } from './unsubscribe.js';

const notConfigured = (what: string) =>
  new ApiError(501, 'provider_not_configured', `${what} is not set up on this server.`);
const badSignature = () =>
  new ApiError(400, 'invalid_signature', 'The webhook signature does not match its body.');

function parseJson(raw: Buffer | null): unknown {
  try {
    return JSON.parse((raw ?? Buffer.alloc(0)).toString('utf8'));
  } catch {
    throw new ApiError(400, 'invalid_json', 'The webhook body is not JSON.');
  }
}

export function messageRoutes(
  app: App,
  messages: Messages,
  marketing: Marketing,
  unsubscribes: Unsubscribes,
  db: Db,
  config: MessagingConfig,
  log: Logger,
): void {
  app.handle(routes.marketing.lists, ({ principal, query }) => marketing.lists(principal.orgId, query));
  app.handle(routes.marketing.createList, ({ principal, body }) =>
    marketing.createList(principal.orgId, body),
  );
  app.handle(routes.marketing.getList, ({ principal, params }) =>
    marketing.getList(principal.orgId, params.id),
  );
  app.handle(routes.marketing.deleteList, ({ principal, params }) =>
    marketing.deleteList(principal.orgId, params.id),
  );
  app.handle(routes.marketing.contacts, ({ principal, params, query }) =>
    marketing.contacts(principal.orgId, params.id, query),
  );
  app.handle(routes.marketing.syncList, ({ principal, params }) =>
    marketing.syncList(principal.orgId, params.id),
  );
  app.handle(routes.marketing.campaigns, ({ principal, query }) =>
    marketing.campaigns(principal.orgId, query),
  );
  app.handle(routes.marketing.createCampaign, ({ principal, body }) =>
    marketing.createCampaign(principal.orgId, body),
  );
  app.handle(routes.marketing.getCampaign, ({ principal, params }) =>
    marketing.getCampaign(principal.orgId, params.id),
  );
  app.handle(routes.marketing.previewCampaign, ({ principal, params, query }) =>
    marketing.previewCampaign(principal.orgId, params.id, query.email, (email) =>
      unsubscribes.url(principal.orgId, email),
    ),
  );
  app.handle(routes.marketing.testCampaign, async ({ principal, params, body }) => {
    let to = body.email;
    if (!to && principal.kind === 'user')
      to = (
        await db.kysely
          .selectFrom('users')
          .select('email')
          .where('id', '=', principal.userId)
          .executeTakeFirstOrThrow()
      ).email;
    if (!to)
      throw validationFailed([
        { path: 'email', message: 'an API key has no address of its own: give one', code: 'required' },
      ]);
    return new Reply(201, messageView(await marketing.testCampaign(principal.orgId, params.id, to)));
  });
  app.handle(routes.marketing.sendCampaign, ({ principal, params }) =>
    marketing.sendCampaign(principal, params.id),
  );
  app.handle(routes.marketing.cancelCampaign, ({ principal, params }) =>
    marketing.cancelCampaign(principal.orgId, params.id),
  );
  // The link in the e-mail (GET) and the one-click List-Unsubscribe-Post (POST) do the same: suppress the address
  // for the organization's marketing mail. Transactional mail (tickets, refunds) still goes.
  const unsubscribe = async (token: string) => {
    const who = await unsubscribes.verify(token);
    if (!who) throw new ApiError(400, 'invalid_token', 'This unsubscribe link is not valid.');
    await suppress(db.kysely, who.orgId, 'email', who.email, 'unsubscribe', false);
    return new Reply(
      200,
      Buffer.from(`${who.email} will get no more marketing e-mail from this organizer.\n`),
      {
        'content-type': 'text/plain; charset=utf-8',
      },
    );
  };
  app.handle(routes.marketing.unsubscribe, ({ query }) => unsubscribe(query.token));
  app.handle(routes.marketing.unsubscribePage, async ({ query }) => {
    const who = await unsubscribes.verify(query.token);
    if (!who) throw new ApiError(400, 'invalid_token', 'This unsubscribe link is not valid.');
    const email = who.email.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    const page = `<!doctype html><html><body style="font-family:sans-serif;max-width:480px;margin:48px auto">
<p>Stop marketing e-mail to <strong>${email}</strong> from this organizer? Tickets and receipts still arrive.</p>
<form method="post"><button type="submit">Unsubscribe</button></form></body></html>`;
    return new Reply(200, Buffer.from(page), { 'content-type': 'text/html; charset=utf-8' });
  });

  app.handle(routes.messages.list, ({ principal, query }) => messages.list(principal.orgId, query));
  app.handle(routes.messages.get, ({ principal, params }) => messages.get(principal.orgId, params.id));
  app.handle(routes.messages.retry, ({ principal, params }) => messages.retry(principal.orgId, params.id));
  app.handle(routes.messages.resend, ({ principal, params }) => messages.resend(principal.orgId, params.id));
  app.handle(routes.messages.templates, ({ principal }) => messages.templates(principal.orgId));
  app.handle(routes.messages.updateTemplate, ({ principal, params, body }) =>
    messages.updateTemplate(principal.orgId, params.name, body.sendgrid_template_id),
  );
  app.handle(routes.messages.preview, async ({ params, query }) =>
    messages.preview(params.name, query.channel),
  );
  app.handle(routes.messages.suppressions, ({ principal, query }) =>
    messages.suppressions(principal.orgId, query),
  );

  app.handle(routes.webhooks.sendgrid, ({ req, rawBody, requestId, ip }) =>
    countedWebhook(db.kysely, 'sendgrid', { requestId, ip }, async () => {
      const key = config.sendgrid.webhookPublicKey;
      if (!key) throw notConfigured('The SendGrid Event Webhook (SENDGRID_WEBHOOK_PUBLIC_KEY)');
      const header = (name: string) => {
        const v = req.headers[name];
        return typeof v === 'string' ? v : undefined;
      };
      const ok = verifySendGridWebhook(
        key,
        rawBody ?? Buffer.alloc(0),
        header('x-twilio-email-event-webhook-signature'),
        header('x-twilio-email-event-webhook-timestamp'),
      );
      if (!ok) throw badSignature();
      const applied = await messages.applyProviderEvents('sendgrid', parseSendGridEvents(parseJson(rawBody)));
      return { received: true as const, applied };
    }),
  );

  app.handle(routes.webhooks.whatsappVerify, async ({ req }) => {
    const token = config.whatsapp.verifyToken;
    if (!token) throw notConfigured('The WhatsApp webhook (WHATSAPP_VERIFY_TOKEN)');
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const challenge = verifyWhatsAppHandshake(query, token);
    if (challenge === null)
      throw new ApiError(403, 'invalid_verify_token', 'hub.verify_token does not match.');
    return new Reply(200, Buffer.from(challenge), { 'content-type': 'text/plain; charset=utf-8' });
  });

  app.handle(routes.webhooks.whatsapp, ({ req, rawBody, requestId, ip }) =>
    countedWebhook(db.kysely, 'whatsapp', { requestId, ip }, async () => {
      const secret = config.whatsapp.appSecret;
      if (!secret) throw notConfigured('WhatsApp (WHATSAPP_APP_SECRET)');
      const signature = req.headers['x-hub-signature-256'];
      if (
        !verifyWhatsAppSignature(
          rawBody ?? Buffer.alloc(0),
          typeof signature === 'string' ? signature : undefined,
          secret,
        )
      )
        throw badSignature();
      const { events, replies } = parseWhatsAppWebhook(parseJson(rawBody));
      let applied = await messages.applyProviderEvents('whatsapp', events);
      for (const reply of replies) {
        if (reply.kind === 'text' && isOptOut(reply.text)) {
          // One business number serves every organization here: STOP means no more from any of them.
          const orgs = await db.kysely
            .selectFrom('outbox')
            .select('org_id')
            .distinct()
            .where('channel', '=', 'whatsapp')
            .where('recipient', '=', reply.from)
            .execute();
          for (const { org_id } of orgs)
            await suppress(db.kysely, org_id, 'whatsapp', reply.from, 'opt_out', true);
          applied += orgs.length ? 1 : 0;
          continue;
        }
        const [action, ticketId] = (reply.buttonId ?? '').split(':');
        if (action !== 'decline' || !ticketId) continue;
        // Only the person the message went to, about the ticket that message was about.
        const message = await db.kysely
          .selectFrom('outbox')
          .select(['org_id', 'ticket_id'])
          .where('channel', '=', 'whatsapp')
          .where('recipient', '=', reply.from)
          .where('ticket_id', '=', ticketId)
          .$if(reply.contextMessageId !== undefined, (q) =>
            q.where('provider_message_id', '=', reply.contextMessageId as string),
          )
          .executeTakeFirst();
        if (!message) {
          log.info(
            { from: reply.from, ticketId },
            'whatsapp reply about a ticket not sent to this number, ignored',
          );
          continue;
        }
        // Recorded on the ticket once, for the organizer to see; the ticket stays valid (they may change their mind).
        await db.kysely
          .updateTable('tickets')
          .set({ declined_at: reply.at.toISOString(), updated_at: nowIso() })
          .where('id', '=', ticketId)
          .where('org_id', '=', message.org_id)
          .where('declined_at', 'is', null)
          .execute();
        applied++;
      }
      return { received: true as const, applied };
    }),
  );
}
