import type { Readable } from 'node:stream';
import got from 'got';
import { ApiError } from '../../http/errors.js';
import { checkLiteral, publicLookup } from '../../http/public-address.js';

/**
 * Fetches a URL a user gave, for the local store's from-url: refusing, at connection time (so a DNS
 * answer that changes between check and connect can't slip through), every address that is not public
 * unicast: loopback, private, link-local (169.254.169.254, the cloud metadata service), unique-local,
 * multicast. Redirects are followed (at most 3), each checked the same way.
 */
export function fetchPublic(url: string, allowPrivate: boolean, timeoutMs = 30_000): Promise<Readable> {
  try {
    checkLiteral(new URL(url), allowPrivate);
  } catch (err) {
    return Promise.reject(err);
  }
  const lookup = publicLookup(allowPrivate);
  return new Promise((resolve, reject) => {
    const stream = got.stream(url, {
      dnsLookup: lookup as never,
      timeout: { request: timeoutMs },
      maxRedirects: 3,
      retry: { limit: 0 },
      headers: { 'user-agent': 'tickets-media/1' },
      hooks: { beforeRedirect: [(options) => checkLiteral(options.url as URL, allowPrivate)] },
    });
    stream.once('response', (res: { statusCode: number }) => {
      if (res.statusCode >= 400) {
        stream.destroy();
        reject(new ApiError(422, 'url_unavailable', `${url} answered ${res.statusCode}.`));
      } else resolve(stream);
    });
    stream.once('error', (err: Error) => {
      // got wraps what a hook or the lookup threw, keeping its message and code.
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof ApiError) reject(cause);
      else if (err instanceof ApiError) reject(err);
      else if (/private or local address/.test(err.message))
        reject(new ApiError(400, 'url_not_allowed', err.message));
      else if ((err as { response?: { statusCode: number } }).response)
        reject(
          new ApiError(
            422,
            'url_unavailable',
            `${url} answered ${(err as unknown as { response: { statusCode: number } }).response.statusCode}.`,
          ),
        );
      else reject(new ApiError(422, 'url_unavailable', `${url} could not be fetched: ${err.message}`));
    });
  });
}
