import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { lookup as dnsLookupAsync } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { ApiError } from './errors.js';

/**
 * SSRF guards for URLs users give (media from a URL, webhook endpoints): only public unicast addresses
 * are reached — never loopback, private, link-local (169.254.169.254, the cloud metadata service),
 * unique-local or multicast — unless the server allows private addresses (tests, an intranet).
 */

const refused = (host: string, address: string) =>
  new ApiError(
    400,
    'url_not_allowed',
    `${host} ${host === address ? 'is' : `resolves to ${address},`} a private or local address; give a public URL.`,
  );

const isPublic = (address: string) => ipaddr.process(address).range() === 'unicast';

/** An address written in the URL itself is connected to without a lookup: refused here when not public. */
export function checkLiteral(target: URL, allowPrivate: boolean): void {
  const host = target.hostname.replace(/^\[|\]$/g, '');
  if (!allowPrivate && ipaddr.isValid(host) && !isPublic(host)) throw refused(host, host);
}

/**
 * A `lookup` for node:http / got that refuses, at connection time, a name resolving to an address that
 * is not public (so a DNS answer changing between a check and the connection can't slip through).
 */
export function publicLookup(allowPrivate: boolean) {
  return (hostname: string, options: object, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err);
      const bad = addresses.find((a) => !allowPrivate && !isPublic(a.address));
      if (bad) return callback(refused(hostname, bad.address));
      if ((options as { all?: boolean }).all) callback(null, addresses);
      else callback(null, addresses[0]?.address, addresses[0]?.family);
    });
  };
}

/** Checks a URL's host now (when it is saved): a literal or every address its name resolves to. */
export async function assertPublicHost(url: URL, allowPrivate: boolean): Promise<void> {
  checkLiteral(url, allowPrivate);
  if (allowPrivate) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (ipaddr.isValid(host)) return;
  let addresses: { address: string }[];
  try {
    addresses = await dnsLookupAsync(host, { all: true });
  } catch {
    throw new ApiError(400, 'url_unresolvable', `${host} does not resolve to an address.`);
  }
  const bad = addresses.find((a) => !isPublic(a.address));
  if (bad) throw refused(host, bad.address);
}
