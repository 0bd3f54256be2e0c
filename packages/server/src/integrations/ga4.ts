/**
 * Google Analytics 4's Measurement Protocol (developers.google.com/analytics/devguides/collection/protocol/ga4):
 * `POST {host}/mp/collect?measurement_id=…&api_secret=…` with `{ client_id, user_id?, timestamp_micros?,
 * events: [{ name, params }] }`, and its validation server at `/debug/mp/collect`. Collect answers 2xx
 * whatever the body (it never says what is wrong): only the validation server does.
 */
export interface Ga4Stream {
  measurementId: string;
  apiSecret: string;
}

export interface Ga4Event {
  name: string;
  params: Record<string, unknown>;
}

export interface Ga4Body {
  client_id: string;
  user_id?: string;
  timestamp_micros?: number;
  events: Ga4Event[];
}

export interface Ga4ValidationMessage {
  fieldPath: string;
  description: string;
  validationCode: string;
}

/** A collect that did not get a 2xx (its status, when there was an answer). */
export class Ga4Error extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export class Ga4Client {
  constructor(private readonly host: string) {}

  private url(path: string, stream: Ga4Stream): string {
    const q = new URLSearchParams({ measurement_id: stream.measurementId, api_secret: stream.apiSecret });
    return `${this.host.replace(/\/$/, '')}${path}?${q}`;
  }

  /** Sends events; resolves with the answer's status (2xx), else throws a Ga4Error. */
  async collect(stream: Ga4Stream, body: Ga4Body, signal?: AbortSignal): Promise<number> {
    let res: Response;
    try {
      res = await fetch(this.url('/mp/collect', stream), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw new Ga4Error(`Google Analytics did not answer: ${(err as Error).message}`, null);
    }
    await res.body?.cancel();
    if (res.ok) return res.status;
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new Ga4Error(
      `Google Analytics answered ${res.status}`,
      res.status,
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
    );
  }

  /** What GA4's validation server says of a request (nothing is recorded there). */
  async validate(stream: Ga4Stream, body: Ga4Body, signal?: AbortSignal): Promise<Ga4ValidationMessage[]> {
    const res = await fetch(this.url('/debug/mp/collect', stream), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, validation_behavior: 'ENFORCE_RECOMMENDATIONS' }),
      signal: signal ?? AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Ga4Error(`Google Analytics' validation server answered ${res.status}`, res.status);
    const answer = (await res.json()) as { validationMessages?: Ga4ValidationMessage[] };
    return answer.validationMessages ?? [];
  }
}
