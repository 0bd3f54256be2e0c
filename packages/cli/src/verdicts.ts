import { randomBytes } from 'node:crypto';
import type { Validation } from '@tickets/sdk';
import type { Context } from './context.js';
import { parse } from './help.js';

// What `tickets validate` and `tickets door` say at the gate, in one place so both say it alike.

export const listIdArg = parse.id('cl', 'a check-in list');

/** The door's clock: when the ticket came in, as the person at the door reads it (their own zone). */
export async function usedAt(iso: string, scannedAt: string): Promise<string> {
  const { DateTime } = await import('luxon');
  const at = DateTime.fromISO(iso).toLocal();
  return at.hasSame(DateTime.fromISO(scannedAt).toLocal(), 'day')
    ? at.toFormat('HH:mm')
    : at.toFormat('yyyy-MM-dd HH:mm');
}

/** Why a ticket is refused, in the words the person at the door needs. */
export async function refusal(v: Validation): Promise<string> {
  switch (v.result) {
    case 'already_used': {
      if (!v.first_used) return 'already used';
      const { at, gate, device_id } = v.first_used;
      const where = gate ? ` at ${gate} (${device_id})` : ` on ${device_id}`;
      return `already used ${await usedAt(at, v.scanned_at)}${where}`;
    }
    case 'revoked':
      return v.revoked_reason === 'transferred'
        ? 'revoked: transferred (an older code; the new holder has the valid one)'
        : `revoked: ${v.revoked_reason ?? 'cancelled'}`;
    case 'invalid':
      return 'not a ticket of ours';
    case 'wrong_event':
      return v.event
        ? `ticket for another event: ${v.event.name}${v.ticket ? ` (${v.ticket.ticket_type_name})` : ''}`
        : 'ticket for another event';
    case 'wrong_list':
      return `${v.ticket?.ticket_type_name ?? 'this ticket type'} does not come in through this gate`;
    case 'not_yet_valid':
      return 'not valid yet at this gate';
    case 'expired':
      return 'no longer valid at this gate';
    case 'order_not_paid':
      return 'order not paid';
    case 'not_inside':
      return 'not checked in here, so cannot check out';
    default:
      return v.message;
  }
}

/**
 * What follows a verdict decided offline: the ticket sold after the last sync is admitted on its
 * signature, and the door sees that it could not be checked for a refund since.
 */
export function offlineMark(v: Validation & { not_in_last_sync?: boolean }): string {
  return v.not_in_last_sync ? '  (offline; not in the last sync)' : '  (offline)';
}

/** This machine's scanner id: --device, else the profile's, generated and saved on first use. */
export async function deviceId(ctx: Context, flag: string | undefined): Promise<string> {
  if (flag !== undefined) return flag;
  const profile = await ctx.profile();
  if (profile.device_id) return profile.device_id;
  const id = `cli-${randomBytes(4).toString('hex')}`;
  (await ctx.store()).update(await ctx.profileName(), { device_id: id });
  return id;
}
