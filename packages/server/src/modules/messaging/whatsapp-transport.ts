import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WhatsAppCloud } from '../../integrations/whatsapp.js';
import type { SendResult, WhatsAppRequest, WhatsAppTransport } from './transport.js';

/**
 * The WhatsApp Cloud API: the QR code uploaded as media, then an approved template with it as the header image and,
 * for reminders, quick-reply buttons ("Add to calendar" / "I can't come") whose payloads name the ticket.
 */
export class CloudWhatsApp implements WhatsAppTransport {
  readonly name = 'whatsapp';
  constructor(private readonly cloud: WhatsAppCloud) {}

  async send(request: WhatsAppRequest, signal?: AbortSignal): Promise<SendResult> {
    const options = { callbackData: request.messageId, ...(signal ? { signal } : {}) };
    const imageId = request.image
      ? await this.cloud.uploadMedia(
          request.image.content,
          request.image.contentType,
          request.image.filename,
          signal,
        )
      : undefined;
    const components: unknown[] = [];
    if (imageId) components.push({ type: 'header', parameters: [{ type: 'image', image: { id: imageId } }] });
    if (request.template.bodyParameters.length)
      components.push({
        type: 'body',
        parameters: request.template.bodyParameters.map((text) => ({ type: 'text', text })),
      });
    // Reply buttons as the approved template's quick replies: free-form interactive messages are refused outside
    // the 24 hours after the customer last wrote, which a reminder almost always is.
    for (const [index, button] of (request.buttons ?? []).entries())
      components.push({
        type: 'button',
        sub_type: 'quick_reply',
        index: String(index),
        parameters: [{ type: 'payload', payload: button.id }],
      });
    return this.cloud.sendTemplate(
      request.to,
      { name: request.template.name, language: request.template.language, components },
      options,
    );
  }
}

/** No WhatsApp account set up: each message is written as JSON (and its QR as PNG) to the local outbox folder. */
export class FileWhatsApp implements WhatsAppTransport {
  readonly name = 'file';
  constructor(private readonly dir: string) {}

  async send(request: WhatsAppRequest): Promise<SendResult> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const base = `${request.messageId}.whatsapp`;
    if (request.image) await writeFile(join(this.dir, `${base}.png`), request.image.content, { mode: 0o600 });
    const { image, ...rest } = request;
    const file = join(this.dir, `${base}.json`);
    await writeFile(
      `${file}.tmp`,
      `${JSON.stringify({ ...rest, image: image ? `${base}.png` : null }, null, 2)}\n`,
      { mode: 0o600 },
    );
    await rename(`${file}.tmp`, file);
    return { providerMessageId: `${base}.json` };
  }
}
