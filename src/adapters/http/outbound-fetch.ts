import ipaddr from 'ipaddr.js';
import { Agent, fetch as undiciFetch } from 'undici';
import type { OutboundFetch } from '../../ports/outbound-http.js';
import { nonPublicRange, publicOnlyLookup } from './public-address.js';

/** An address a task may not reach: loopback, link-local, private, or any other non-public range. */
export class AddressRefused extends Error {
  constructor(host: string, address: string, range: string) {
    super(
      host === address
        ? `${host} is a ${range} address; Kiln reaches only public addresses (an operator can allow others with KILN_MCP_ALLOW_PRIVATE=true)`
        : `${host} resolves to ${address}, a ${range} address; Kiln reaches only public addresses (an operator can allow others with KILN_MCP_ALLOW_PRIVATE=true)`,
    );
  }
}

/**
 * Kiln's fetch for requests made on a task's behalf. Unless private addresses are allowed, every
 * address a host name resolves to must be public (IPv4 and IPv6), checked when the connection is
 * made, so a name that changes its answer between a check and the request gains nothing.
 * Redirects are never followed here (`redirect: "manual"`).
 *
 * @example
 * const fetch = outboundFetch({ allowPrivate: false });
 * await fetch('http://127.0.0.1/'); // rejects with AddressRefused
 */
export function outboundFetch(options: { allowPrivate: boolean }): OutboundFetch {
  const dispatcher = options.allowPrivate ? new Agent() : new Agent({ connect: { lookup: publicOnlyLookup((host, address, range) => new AddressRefused(host, address, range)) } });
  return async (url, init) => {
    const target = new URL(url);
    if (!options.allowPrivate) refuseLiteral(target.hostname);
    try {
      const response = await undiciFetch(target, { ...(init as object), redirect: 'manual', dispatcher } as Parameters<typeof undiciFetch>[1]);
      return response as unknown as Response;
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      if (cause instanceof AddressRefused) throw cause;
      throw error;
    }
  };
}

function refuseLiteral(hostname: string): void {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (!ipaddr.isValid(host)) return;
  const range = nonPublicRange(host);
  if (range) throw new AddressRefused(host, host, range);
}
