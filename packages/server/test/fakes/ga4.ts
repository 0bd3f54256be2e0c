/**
 * A local stand-in for Google Analytics 4's Measurement Protocol (`www.google-analytics.com/mp/collect` and its
 * validation server `/debug/mp/collect`, developers.google.com/analytics/devguides/collection/protocol/ga4), so
 * server-side GA4 events (e-commerce: `purchase`, `refund`, …) are tested over real HTTP without the internet.
 * A real HTTP server on 127.0.0.1; nothing here mocks a client. Point the code at `fake.collectUrl` (and
 * `fake.debugUrl`) with `?measurement_id=…&api_secret=…` as for Google.
 *
 * What it imitates:
 * - `POST /mp/collect?measurement_id=G-…&api_secret=…` with a JSON body `{ client_id, user_id?,
 *   timestamp_micros?, user_properties?, non_personalized_ads?, consent?, validation_behavior?, events: [{ name,
 *   params? }] }`. As at Google it never says what is wrong: every request answers 204 with an empty body,
 *   whatever the body, a wrong api_secret or an unknown measurement_id included. Every request is recorded as a
 *   hit anyway, with the validation messages the fake found (`hit.problems`: what GA would have dropped or
 *   refused), and `accepted: true` only when both ids are the configured ones and the body is a JSON object.
 *   Any `Content-Type` is accepted, as at Google (navigator.sendBeacon sends text/plain).
 * - `POST /debug/mp/collect?…` (the validation server): 200 `{ validationMessages: [{ fieldPath, description,
 *   validationCode }] }`, an empty list when the request is valid; nothing is recorded as a hit (requests are
 *   kept in `debugHits`). Codes as documented: VALUE_INVALID, VALUE_REQUIRED, NAME_INVALID, NAME_RESERVED,
 *   VALUE_OUT_OF_BOUNDS, EXCEEDED_MAX_ENTITIES, NAME_DUPLICATED.
 * - The documented limits, checked by `validatePayload` (exported, pure, used by both endpoints):
 *   measurement_id and api_secret present; `client_id` (web streams) required; `user_id` ≤ 256 characters;
 *   `timestamp_micros` an integer at most 72 hours old; ≤ 25 events; event names ≤ 40 characters, starting
 *   with a letter, then letters, digits and underscores, not reserved (the names in RESERVED_EVENT_NAMES, the
 *   prefixes `_`, `firebase_`, `ga_`, `google_`, `gtag.`); ≤ 25 params per event, with names under the same
 *   rules (the reserved prefixes); string values ≤ 100 characters (`page_location` 1000, `page_referrer` 420,
 *   `page_title` 300); `value` a number, and `currency` (ISO 4217, 3 upper-case letters) whenever `value` is
 *   given; `transaction_id` on `purchase` and `refund`; `items` ≤ 200, each with `item_id` or `item_name`, at
 *   most 27 custom (non-standard) item parameters, names and values under the param rules; ≤ 25 user
 *   properties, names ≤ 24 characters (not reserved), values ≤ 36; `consent.ad_user_data` /
 *   `ad_personalization` GRANTED or DENIED; the same key twice in one JSON object is NAME_DUPLICATED.
 * - The post body must be under 130 kB: a larger collect answers 413 (recorded, not accepted; the debug
 *   endpoint reports VALUE_OUT_OF_BOUNDS instead).
 * - Another path is 404, another method on the two paths 405 (with `Allow: POST`).
 *
 * Where it knowingly differs:
 * - Google's validation server does NOT check api_secret (its documentation says so), nor is it documented to
 *   check that measurement_id names a stream; the fake reports a wrong one of either as VALUE_INVALID, so a
 *   test can tell a misconfigured pair apart.
 * - The fake always validates as strictly as `validation_behavior: 'ENFORCE_RECOMMENDATIONS'`; with Google's
 *   default (RELAXED) the recommendations (currency format, currency with value, transaction_id) may pass the
 *   validation server silently. A `validation_behavior` in the body is checked for its value, then ignored.
 * - `fieldPath` is precise (`events[0].params.items[1]`) where Google's is coarser (`events`, with the index in
 *   the description); descriptions are in Google's style but are the fake's own words.
 * - Nothing is processed: no sessions, no truncation, no dropping of the invalid parts, no reports. An accepted
 *   hit keeps every event as sent, valid or not; look at `problems` to know what GA would have done with it.
 * - 130 kB is taken as 130,000 bytes (Google doesn't say which kB, nor what its collect answers when over;
 *   413 here). Bodies are never decompressed. Web streams only (no `firebase_app_id` / `app_instance_id`).
 * - The reserved lists are the documented ones at the time of writing; Google says they are not exhaustive.
 * - `failNext` answers carry no body; the requests are recorded (`accepted: false`, `problems: []`).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** "The post body must be smaller than 130kB." */
export const GA4_MAX_BODY_BYTES = 130_000;
/** What the fake reads at all; the rest of a larger body is read and dropped. */
const HARD_MAX_BODY = 20 * 1024 * 1024;
const COLLECT_PATH = '/mp/collect';
const DEBUG_PATH = '/debug/mp/collect';

export const GA4_LIMITS = {
  eventsPerRequest: 25,
  paramsPerEvent: 25,
  userProperties: 25,
  eventNameLength: 40,
  paramNameLength: 40,
  paramValueLength: 100,
  userPropertyNameLength: 24,
  userPropertyValueLength: 36,
  userIdLength: 256,
  itemsPerEvent: 200,
  customItemParams: 27,
  /** Events can be backdated this far with `timestamp_micros`. */
  backdateMs: 72 * 60 * 60 * 1000,
} as const;

/** Params allowed longer strings than `paramValueLength`. */
const LONG_PARAMS: Record<string, number> = { page_location: 1000, page_referrer: 420, page_title: 300 };

export const RESERVED_EVENT_NAMES: ReadonlySet<string> = new Set([
  'ad_activeview',
  'ad_click',
  'ad_exposure',
  'ad_query',
  'ad_reward',
  'adunit_exposure',
  'app_clear_data',
  'app_exception',
  'app_install',
  'app_remove',
  'app_store_refund',
  'app_update',
  'app_upgrade',
  'dynamic_link_app_open',
  'dynamic_link_app_update',
  'dynamic_link_first_open',
  'error',
  'firebase_campaign',
  'firebase_in_app_message_action',
  'firebase_in_app_message_dismiss',
  'firebase_in_app_message_impression',
  'first_open',
  'first_visit',
  'in_app_purchase',
  'notification_dismiss',
  'notification_foreground',
  'notification_open',
  'notification_receive',
  'notification_send',
  'os_update',
  'session_start',
  'user_engagement',
]);
/** Reserved prefixes of event and param names. */
export const RESERVED_PREFIXES: readonly string[] = ['_', 'firebase_', 'ga_', 'google_', 'gtag.'];
export const RESERVED_USER_PROPERTY_NAMES: ReadonlySet<string> = new Set([
  'first_open_time',
  'first_visit_time',
  'last_deep_link_referrer',
  'user_id',
  'first_open_after_install',
]);
const RESERVED_USER_PROPERTY_PREFIXES: readonly string[] = ['_', 'firebase_', 'ga_', 'google_'];
/** Events that identify a transaction. */
const TRANSACTION_EVENTS: ReadonlySet<string> = new Set(['purchase', 'refund']);
/** Item parameters GA4 defines; any other is a custom item parameter. */
const STANDARD_ITEM_PARAMS: ReadonlySet<string> = new Set([
  'item_id',
  'item_name',
  'affiliation',
  'coupon',
  'discount',
  'index',
  'item_brand',
  'item_category',
  'item_category2',
  'item_category3',
  'item_category4',
  'item_category5',
  'item_list_id',
  'item_list_name',
  'item_variant',
  'location_id',
  'price',
  'quantity',
  'promotion_id',
  'promotion_name',
  'creative_name',
  'creative_slot',
]);

// ---------------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------------

export type Ga4ValidationCode =
  | 'VALUE_INVALID'
  | 'VALUE_REQUIRED'
  | 'NAME_INVALID'
  | 'NAME_RESERVED'
  | 'VALUE_OUT_OF_BOUNDS'
  | 'EXCEEDED_MAX_ENTITIES'
  | 'NAME_DUPLICATED';

/** One entry of the validation server's `validationMessages`. */
export interface Ga4ValidationMessage {
  fieldPath: string;
  description: string;
  validationCode: Ga4ValidationCode;
}

export interface Ga4Credentials {
  measurementId: string;
  apiSecret: string;
}

/** The ids a request carried in its query string (null: absent), and the pair they must equal if given. */
export interface Ga4RequestIds {
  measurementId: string | null;
  apiSecret: string | null;
  expected?: Ga4Credentials;
}

/** One event of a body as sent. */
export interface Ga4SentEvent {
  name: string;
  // biome-ignore lint/suspicious/noExplicitAny: event params are free-form; tests reach into them freely
  params: Record<string, any>;
}

/** One request to `/mp/collect`, whatever became of it. */
export interface Ga4Hit {
  /** 1 for the first collect request (since the last `clear`). */
  n: number;
  measurementId: string | null;
  apiSecret: string | null;
  /** What the fake answered: 204, 413, or a `failNext` status. */
  status: number;
  /** Whether GA would have taken the request in (right ids, a JSON object, a 2xx); its events may still be bad. */
  accepted: boolean;
  /** The body, parsed, if it was a JSON object. */
  // biome-ignore lint/suspicious/noExplicitAny: as above
  body: Record<string, any> | undefined;
  /** The body as text. */
  raw: string;
  /** The body's object entries of `events`, as sent (`name` '' when it had none, `params` {} likewise). */
  events: Ga4SentEvent[];
  /** What `validatePayload` found: what GA would have dropped. Empty for a `failNext`ed request. */
  problems: Ga4ValidationMessage[];
  headers: IncomingHttpHeaders;
  at: Date;
}

/** An event of an accepted hit, with what it is told apart by. */
export interface Ga4RecordedEvent extends Ga4SentEvent {
  clientId: string | undefined;
  userId: string | undefined;
  timestampMicros: number | string | undefined;
  /** This event's own problems (those whose fieldPath is under `events[i]`); the hit's others are in `hit`. */
  problems: Ga4ValidationMessage[];
  /** Its position in the hit's `events`. */
  index: number;
  hit: Ga4Hit;
}

/** One request to `/debug/mp/collect`. */
export interface Ga4DebugHit {
  measurementId: string | null;
  apiSecret: string | null;
  raw: string;
  validationMessages: Ga4ValidationMessage[];
  at: Date;
}

export interface FakeGa4 {
  /** `http://127.0.0.1:<port>` (stands for https://www.google-analytics.com) */
  readonly url: string;
  /** `${url}/mp/collect`, without the query. */
  readonly collectUrl: string;
  /** `${url}/debug/mp/collect`, without the query. */
  readonly debugUrl: string;
  readonly measurementId: string;
  readonly apiSecret: string;
  /** Every collect request, oldest first (live: cleared by `clear`). */
  readonly hits: readonly Ga4Hit[];
  /** Every validation-server request, oldest first. */
  readonly debugHits: readonly Ga4DebugHit[];
  /** The events of accepted hits (named `name` if given), oldest first. */
  events(name?: string): Ga4RecordedEvent[];
  /** Every problem of every hit, oldest first. */
  problems(): Ga4ValidationMessage[];
  /**
   * Resolves with the first event of an accepted hit named `name` and matching `match` (already received or
   * arriving later); rejects after timeoutMs (default 5000) with a message listing what did arrive.
   */
  waitForEvent(
    name: string,
    match?: (event: Ga4RecordedEvent) => boolean,
    timeoutMs?: number,
  ): Promise<Ga4RecordedEvent>;
  /** The next n collect requests answer `status` (e.g. 500, 503, 429) with no body; not accepted. */
  failNext(n: number, status: number, headers?: Record<string, string>): void;
  /** Forgets every hit, debug hit and planned failure, and restarts `n` (pending `waitForEvent`s keep waiting). */
  clear(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const chars = (s: string) => [...s].length;
const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
/** Starts with a letter, then letters, digits and underscores (Unicode letters count: GA allows them). */
const NAME_SHAPE = /^\p{L}[\p{L}\p{N}_]*$/u;
const CURRENCY_SHAPE = /^[A-Z]{3}$/;

/** Paths of keys repeated within one object of a JSON text that parses. */
function duplicateKeys(text: string): string[] {
  const found: string[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
  };
  const readString = (): string => {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const readValue = (path: string): void => {
    skipSpace();
    const c = text[i];
    if (c === '{') {
      i++;
      const seen = new Set<string>();
      skipSpace();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        skipSpace();
        const key = readString();
        const keyPath = path ? `${path}.${key}` : key;
        if (seen.has(key)) found.push(keyPath);
        seen.add(key);
        skipSpace();
        i++; // ':'
        readValue(keyPath);
        skipSpace();
        if (text[i++] !== ',') return; // '}'
      }
    }
    if (c === '[') {
      i++;
      skipSpace();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (let n = 0; ; n++) {
        readValue(`${path}[${n}]`);
        skipSpace();
        if (text[i++] !== ',') return; // ']'
      }
    }
    if (c === '"') {
      readString();
      return;
    }
    while (i < text.length && !',]} \t\n\r'.includes(text[i] as string)) i++;
  };
  try {
    readValue('');
  } catch {
    // Nested too deep for the stack: give up on duplicates, the rest is validated anyway.
  }
  return found;
}

/**
 * The validation server's messages for a request: its ids (when given) and its body. A string or Buffer body
 * is JSON text (also checked for its size and for repeated keys); anything else is the parsed body.
 * `options.now` (ms) is the clock `timestamp_micros` is judged by. Pure: records nothing.
 */
export function validatePayload(
  body: unknown,
  ids?: Ga4RequestIds,
  options: { now?: number } = {},
): Ga4ValidationMessage[] {
  const messages: Ga4ValidationMessage[] = [];
  const report = (fieldPath: string, validationCode: Ga4ValidationCode, description: string) =>
    messages.push({ fieldPath, description, validationCode });

  if (ids) {
    for (const [field, given, expected] of [
      ['measurement_id', ids.measurementId, ids.expected?.measurementId],
      ['api_secret', ids.apiSecret, ids.expected?.apiSecret],
    ] as const) {
      if (given === null || given === '')
        report(field, 'VALUE_REQUIRED', `Unable to find non-empty parameter [${field}] value in request.`);
      else if (expected !== undefined && given !== expected)
        report(
          field,
          'VALUE_INVALID',
          `Parameter [${field}] value [${given}] is not the one of this stream.`,
        );
    }
  }

  let payload: unknown = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    const bytes = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (bytes > GA4_MAX_BODY_BYTES) messages.push(tooLarge(bytes));
    try {
      payload = JSON.parse(text);
    } catch (err) {
      report('', 'VALUE_INVALID', `Unable to parse the post body as JSON: ${(err as Error).message}`);
      return messages;
    }
    for (const path of duplicateKeys(text))
      report(path, 'NAME_DUPLICATED', `Name [${path}] is given more than once in the same object.`);
  }
  if (!isRecord(payload)) {
    report('', 'VALUE_INVALID', 'The post body must be a JSON object.');
    return messages;
  }

  // Request-level fields.
  if (payload.client_id === undefined || payload.client_id === null || payload.client_id === '')
    report('client_id', 'VALUE_REQUIRED', 'Unable to find non-empty parameter [client_id] value in request.');
  else if (typeof payload.client_id !== 'string')
    report('client_id', 'VALUE_INVALID', `client_id must be a string, not [${show(payload.client_id)}].`);

  if (payload.user_id !== undefined) {
    if (typeof payload.user_id !== 'string')
      report('user_id', 'VALUE_INVALID', `user_id must be a string, not [${show(payload.user_id)}].`);
    else if (chars(payload.user_id) > GA4_LIMITS.userIdLength)
      report(
        'user_id',
        'VALUE_OUT_OF_BOUNDS',
        `user_id is ${chars(payload.user_id)} characters; at most ${GA4_LIMITS.userIdLength} are allowed.`,
      );
  }

  if (payload.timestamp_micros !== undefined) {
    const raw = payload.timestamp_micros;
    const micros =
      typeof raw === 'number' && Number.isSafeInteger(raw)
        ? raw
        : typeof raw === 'string' && /^\d+$/.test(raw)
          ? Number(raw)
          : null;
    if (micros === null)
      report('timestamp_micros', 'VALUE_INVALID', `timestamp_micros must be an integer, not [${show(raw)}].`);
    else if (micros / 1000 < (options.now ?? Date.now()) - GA4_LIMITS.backdateMs)
      report(
        'timestamp_micros',
        'VALUE_OUT_OF_BOUNDS',
        `timestamp_micros [${raw}] is more than 72 hours in the past.`,
      );
  }

  if (payload.non_personalized_ads !== undefined && typeof payload.non_personalized_ads !== 'boolean')
    report('non_personalized_ads', 'VALUE_INVALID', 'non_personalized_ads must be a boolean.');

  if (
    payload.validation_behavior !== undefined &&
    payload.validation_behavior !== 'RELAXED' &&
    payload.validation_behavior !== 'ENFORCE_RECOMMENDATIONS'
  )
    report(
      'validation_behavior',
      'VALUE_INVALID',
      `validation_behavior [${show(payload.validation_behavior)}] must be RELAXED or ENFORCE_RECOMMENDATIONS.`,
    );

  if (payload.consent !== undefined) {
    if (!isRecord(payload.consent)) report('consent', 'VALUE_INVALID', 'consent must be an object.');
    else
      for (const field of ['ad_user_data', 'ad_personalization']) {
        const value = payload.consent[field];
        if (value !== undefined && value !== 'GRANTED' && value !== 'DENIED')
          report(
            `consent.${field}`,
            'VALUE_INVALID',
            `consent.${field} [${show(value)}] must be GRANTED or DENIED.`,
          );
      }
  }

  if (payload.user_properties !== undefined) validateUserProperties(payload.user_properties, report);

  // Events.
  const events = payload.events;
  if (events === undefined || events === null) {
    report('events', 'VALUE_REQUIRED', 'Unable to find non-empty parameter [events] value in request.');
  } else if (!Array.isArray(events)) {
    report('events', 'VALUE_INVALID', 'events must be an array.');
  } else if (events.length === 0) {
    report('events', 'VALUE_REQUIRED', 'events must hold at least one event.');
  } else {
    if (events.length > GA4_LIMITS.eventsPerRequest)
      report(
        'events',
        'EXCEEDED_MAX_ENTITIES',
        `A request can have at most ${GA4_LIMITS.eventsPerRequest} events; this one has ${events.length}.`,
      );
    for (const [index, event] of events.entries()) validateEvent(event, index, report);
  }
  return messages;
}

const tooLarge = (bytes: number): Ga4ValidationMessage => ({
  fieldPath: '',
  description: `Post body is ${bytes} bytes; it must be smaller than 130kB (${GA4_MAX_BODY_BYTES} bytes).`,
  validationCode: 'VALUE_OUT_OF_BOUNDS',
});

type Report = (fieldPath: string, code: Ga4ValidationCode, description: string) => void;

/** NAME_INVALID or NAME_RESERVED for a name, the first rule it breaks; whether it was fine. */
function checkName(
  name: string,
  what: string,
  path: string,
  rules: { max: number; reserved?: ReadonlySet<string>; prefixes: readonly string[] },
  report: Report,
): boolean {
  if (chars(name) > rules.max) {
    report(
      path,
      'NAME_INVALID',
      `${what} has invalid name [${name}]. Names must be ${rules.max} characters or fewer.`,
    );
    return false;
  }
  if (!NAME_SHAPE.test(name)) {
    report(
      path,
      'NAME_INVALID',
      `${what} has invalid name [${name}]. ${
        /^\p{L}/u.test(name)
          ? 'Names may only contain alpha-numeric characters and underscores.'
          : 'Names must start with an alphabetic character.'
      }`,
    );
    return false;
  }
  const prefix = rules.prefixes.find((p) => name.startsWith(p));
  if (rules.reserved?.has(name) || prefix !== undefined) {
    report(
      path,
      'NAME_RESERVED',
      `${what} has name [${name}] which is reserved${prefix !== undefined ? ` (prefix ${prefix})` : ''}.`,
    );
    return false;
  }
  return true;
}

function validateUserProperties(properties: unknown, report: Report) {
  if (!isRecord(properties)) {
    report('user_properties', 'VALUE_INVALID', 'user_properties must be an object.');
    return;
  }
  const names = Object.keys(properties);
  if (names.length > GA4_LIMITS.userProperties)
    report(
      'user_properties',
      'EXCEEDED_MAX_ENTITIES',
      `A request can have at most ${GA4_LIMITS.userProperties} user properties; this one has ${names.length}.`,
    );
  for (const name of names) {
    const path = `user_properties.${name}`;
    checkName(
      name,
      'User property',
      path,
      {
        max: GA4_LIMITS.userPropertyNameLength,
        reserved: RESERVED_USER_PROPERTY_NAMES,
        prefixes: RESERVED_USER_PROPERTY_PREFIXES,
      },
      report,
    );
    const property = properties[name];
    if (!isRecord(property) || !('value' in property)) {
      report(path, 'VALUE_INVALID', `User property [${name}] must be an object { value }.`);
      continue;
    }
    const value = property.value;
    if (typeof value === 'string') {
      if (chars(value) > GA4_LIMITS.userPropertyValueLength)
        report(
          `${path}.value`,
          'VALUE_OUT_OF_BOUNDS',
          `User property [${name}] value is ${chars(value)} characters; at most ${GA4_LIMITS.userPropertyValueLength} are allowed.`,
        );
    } else if (value !== null && typeof value !== 'number' && typeof value !== 'boolean')
      report(`${path}.value`, 'VALUE_INVALID', `User property [${name}] value must be a string or a number.`);
  }
}

/** A param's (or item param's) value: a scalar, strings within their length. */
function checkScalar(value: unknown, name: string, path: string, what: string, report: Report) {
  if (typeof value === 'string') {
    const max = LONG_PARAMS[name] ?? GA4_LIMITS.paramValueLength;
    if (chars(value) > max)
      report(
        path,
        'VALUE_OUT_OF_BOUNDS',
        `${what} [${name}] value is ${chars(value)} characters; at most ${max} are allowed.`,
      );
  } else if (typeof value === 'object' && value !== null)
    report(path, 'VALUE_INVALID', `${what} [${name}] value must be a string, a number or a boolean.`);
}

function validateEvent(event: unknown, index: number, report: Report) {
  const path = `events[${index}]`;
  const what = `Event at index: [${index}]`;
  if (!isRecord(event)) {
    report(path, 'VALUE_INVALID', `${what} must be an object { name, params }.`);
    return;
  }
  const name = event.name;
  if (name === undefined || name === null || name === '')
    report(`${path}.name`, 'VALUE_REQUIRED', `${what} has no name.`);
  else if (typeof name !== 'string')
    report(`${path}.name`, 'VALUE_INVALID', `${what} name must be a string.`);
  else
    checkName(
      name,
      what,
      `${path}.name`,
      { max: GA4_LIMITS.eventNameLength, reserved: RESERVED_EVENT_NAMES, prefixes: RESERVED_PREFIXES },
      report,
    );

  if (event.params === undefined) {
    if (typeof name === 'string' && TRANSACTION_EVENTS.has(name))
      report(`${path}.params.transaction_id`, 'VALUE_REQUIRED', `${what} [${name}] requires transaction_id.`);
    return;
  }
  if (!isRecord(event.params)) {
    report(`${path}.params`, 'VALUE_INVALID', `${what} params must be an object.`);
    return;
  }
  const params = event.params;
  const keys = Object.keys(params);
  if (keys.length > GA4_LIMITS.paramsPerEvent)
    report(
      `${path}.params`,
      'EXCEEDED_MAX_ENTITIES',
      `${what} can have at most ${GA4_LIMITS.paramsPerEvent} params; it has ${keys.length}.`,
    );
  for (const key of keys) {
    const paramPath = `${path}.params.${key}`;
    checkName(
      key,
      `${what} param`,
      paramPath,
      { max: GA4_LIMITS.paramNameLength, prefixes: RESERVED_PREFIXES },
      report,
    );
    if (key === 'items') validateItems(params.items, `${path}.params.items`, what, report);
    else checkScalar(params[key], key, paramPath, `${what} param`, report);
  }

  // The e-commerce rules.
  if (params.value !== undefined) {
    if (typeof params.value !== 'number')
      report(`${path}.params.value`, 'VALUE_INVALID', `${what} param [value] must be a number.`);
    if (params.currency === undefined || params.currency === null || params.currency === '')
      report(`${path}.params.currency`, 'VALUE_REQUIRED', `${what} sets value, so it requires currency.`);
  }
  if (params.currency !== undefined && params.currency !== null && params.currency !== '') {
    if (typeof params.currency !== 'string' || !CURRENCY_SHAPE.test(params.currency))
      report(
        `${path}.params.currency`,
        'VALUE_INVALID',
        `${what} param [currency] [${show(params.currency)}] must be an ISO 4217 code (3 upper-case letters).`,
      );
  }
  if (typeof name === 'string' && TRANSACTION_EVENTS.has(name)) {
    const id = params.transaction_id;
    if (id === undefined || id === null || id === '')
      report(`${path}.params.transaction_id`, 'VALUE_REQUIRED', `${what} [${name}] requires transaction_id.`);
  }
}

function validateItems(items: unknown, path: string, what: string, report: Report) {
  if (!Array.isArray(items)) {
    report(path, 'VALUE_INVALID', `${what} param [items] must be an array.`);
    return;
  }
  if (items.length > GA4_LIMITS.itemsPerEvent)
    report(
      path,
      'EXCEEDED_MAX_ENTITIES',
      `${what} can have at most ${GA4_LIMITS.itemsPerEvent} items; it has ${items.length}.`,
    );
  items.forEach((item, j) => {
    const itemPath = `${path}[${j}]`;
    const itemWhat = `${what} item at index: [${j}]`;
    if (!isRecord(item)) {
      report(itemPath, 'VALUE_INVALID', `${itemWhat} must be an object.`);
      return;
    }
    const present = (v: unknown) => v !== undefined && v !== null && v !== '';
    if (!present(item.item_id) && !present(item.item_name))
      report(itemPath, 'VALUE_REQUIRED', `${itemWhat} requires item_id or item_name.`);
    let custom = 0;
    for (const key of Object.keys(item)) {
      if (!STANDARD_ITEM_PARAMS.has(key)) custom++;
      checkName(
        key,
        `${itemWhat} param`,
        `${itemPath}.${key}`,
        { max: GA4_LIMITS.paramNameLength, prefixes: RESERVED_PREFIXES },
        report,
      );
      checkScalar(item[key], key, `${itemPath}.${key}`, `${itemWhat} param`, report);
    }
    if (custom > GA4_LIMITS.customItemParams)
      report(
        itemPath,
        'EXCEEDED_MAX_ENTITIES',
        `${itemWhat} can have at most ${GA4_LIMITS.customItemParams} custom parameters; it has ${custom}.`,
      );
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------------------------

interface Waiter {
  name: string;
  match: ((event: Ga4RecordedEvent) => boolean) | undefined;
  resolve(event: Ga4RecordedEvent): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

const randomId = (length: number) =>
  Array.from(randomBytes(length), (b) => 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'[b % 32]).join('');

export async function startFakeGa4(options: Partial<Ga4Credentials> = {}): Promise<FakeGa4> {
  const measurementId = options.measurementId ?? `G-${randomId(10)}`;
  const apiSecret = options.apiSecret ?? randomBytes(16).toString('base64url');
  const expected: Ga4Credentials = { measurementId, apiSecret };
  const hits: Ga4Hit[] = [];
  const debugHits: Ga4DebugHit[] = [];
  const failures: { remaining: number; status: number; headers: Record<string, string> }[] = [];
  const waiters = new Set<Waiter>();
  let requests = 0;

  function eventsOf(hit: Ga4Hit): Ga4RecordedEvent[] {
    if (!hit.accepted || !hit.body) return [];
    const body = hit.body;
    const all = Array.isArray(body.events) ? (body.events as unknown[]) : [];
    const recorded: Ga4RecordedEvent[] = [];
    all.forEach((event, index) => {
      if (!isRecord(event)) return;
      const prefix = `events[${index}]`;
      recorded.push({
        name: typeof event.name === 'string' ? event.name : '',
        params: isRecord(event.params) ? event.params : {},
        clientId: typeof body.client_id === 'string' ? body.client_id : undefined,
        userId: typeof body.user_id === 'string' ? body.user_id : undefined,
        timestampMicros: body.timestamp_micros,
        problems: hit.problems.filter((p) => p.fieldPath === prefix || p.fieldPath.startsWith(`${prefix}.`)),
        index,
        hit,
      });
    });
    return recorded;
  }

  const events = (name?: string) =>
    hits.flatMap(eventsOf).filter((event) => name === undefined || event.name === name);

  function settle(waiter: Waiter) {
    clearTimeout(waiter.timer);
    waiters.delete(waiter);
  }

  function record(hit: Ga4Hit) {
    hits.push(hit);
    const recorded = eventsOf(hit);
    for (const waiter of waiters) {
      for (const event of recorded) {
        if (event.name !== waiter.name) continue;
        let matched: boolean;
        try {
          matched = waiter.match ? waiter.match(event) : true;
        } catch (err) {
          settle(waiter);
          waiter.reject(err as Error);
          break;
        }
        if (matched) {
          settle(waiter);
          waiter.resolve(event);
          break;
        }
      }
    }
  }

  function describeArrivals(): string {
    if (hits.length === 0) return 'no collect request arrived';
    return hits
      .slice(-10)
      .map((hit) => {
        const names = hit.events.map((e) => e.name || '?').join(', ') || 'no events';
        const problems = hit.problems.map((p) => `${p.validationCode} ${p.fieldPath}`).join('; ');
        return `  #${hit.n} ${hit.status}${hit.accepted ? '' : ' (not accepted)'}: ${names}${problems ? ` [${problems}]` : ''}`;
      })
      .join('\n');
  }

  /** The whole body; `bytes` counts what was sent even past the hard limit (the rest is dropped). */
  async function readBody(req: IncomingMessage): Promise<{ raw: Buffer; bytes: number }> {
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of req) {
      bytes += (chunk as Buffer).length;
      if (bytes <= HARD_MAX_BODY) chunks.push(chunk as Buffer);
    }
    return { raw: Buffer.concat(chunks), bytes };
  }

  function answer(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
    if (res.headersSent || res.destroyed) return;
    if (body === undefined) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body, null, 2));
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== COLLECT_PATH && url.pathname !== DEBUG_PATH) {
      req.resume();
      return answer(res, 404, { error: 'not found' });
    }
    if (req.method !== 'POST') {
      req.resume();
      return answer(res, 405, { error: 'method not allowed' }, { allow: 'POST' });
    }
    const ids = {
      measurementId: url.searchParams.get('measurement_id'),
      apiSecret: url.searchParams.get('api_secret'),
    };
    const { raw, bytes } = await readBody(req);
    const text = raw.toString('utf8');

    if (url.pathname === DEBUG_PATH) {
      // Past the hard limit the body was cut short: only its size is reported.
      const validationMessages =
        bytes > HARD_MAX_BODY ? [tooLarge(bytes)] : validatePayload(raw, { ...ids, expected });
      debugHits.push({ ...ids, raw: text, validationMessages, at: new Date() });
      return answer(res, 200, { validationMessages });
    }

    const n = ++requests;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const body = isRecord(parsed) ? parsed : undefined;
    const sent: Ga4SentEvent[] =
      body && Array.isArray(body.events)
        ? (body.events as unknown[]).filter(isRecord).map((e) => ({
            name: typeof e.name === 'string' ? e.name : '',
            params: isRecord(e.params) ? e.params : {},
          }))
        : [];
    const base = { n, ...ids, body, raw: text, events: sent, headers: req.headers, at: new Date() };

    const failure = failures[0];
    if (failure) {
      if (--failure.remaining <= 0) failures.shift();
      record({ ...base, status: failure.status, accepted: false, problems: [] });
      return answer(res, failure.status, undefined, failure.headers);
    }
    if (bytes > GA4_MAX_BODY_BYTES) {
      record({
        ...base,
        status: 413,
        accepted: false,
        problems: [tooLarge(bytes)],
      });
      return answer(res, 413, { error: 'payload too large' });
    }
    const problems = validatePayload(raw, { ...ids, expected });
    const accepted = body !== undefined && ids.measurementId === measurementId && ids.apiSecret === apiSecret;
    record({ ...base, status: 204, accepted, problems });
    answer(res, 204);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => answer(res, 500, { error: `fake GA4 crashed: ${String(err)}` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;

  return {
    url: base,
    collectUrl: `${base}${COLLECT_PATH}`,
    debugUrl: `${base}${DEBUG_PATH}`,
    measurementId,
    apiSecret,
    hits,
    debugHits,
    events,
    problems: () => hits.flatMap((hit) => hit.problems),
    waitForEvent(name, match, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const found = events(name).find((event) => (match ? match(event) : true));
        if (found) return resolve(found);
        const waiter: Waiter = {
          name,
          match,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            reject(
              new Error(
                `fake GA4: no accepted ${name} event${match ? ' matching' : ''} arrived within ${timeoutMs} ms\n${describeArrivals()}`,
              ),
            );
          }, timeoutMs),
        };
        waiters.add(waiter);
      });
    },
    failNext(n, status, headers = {}) {
      if (n > 0) failures.push({ remaining: n, status, headers });
    },
    clear() {
      hits.length = 0;
      debugHits.length = 0;
      failures.length = 0;
      requests = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const waiter of waiters) {
          settle(waiter);
          waiter.reject(new Error(`fake GA4 closed while waiting for a ${waiter.name} event`));
        }
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
