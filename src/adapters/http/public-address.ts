import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';

/** The range of an address when it is not public unicast (IPv4-mapped IPv6 as IPv4), else null. */
export function nonPublicRange(address: string): string | null {
  const range = ipaddr.process(address).range();
  return range === 'unicast' ? null : describeRange(range);
}

function describeRange(range: string): string {
  const names: Record<string, string> = {
    loopback: 'loopback',
    private: 'private',
    linkLocal: 'link-local',
    uniqueLocal: 'private (unique local)',
    unspecified: 'unspecified',
    carrierGradeNat: 'shared (carrier-grade NAT)',
    multicast: 'multicast',
    broadcast: 'broadcast',
  };
  return names[range] ?? `non-public (${range})`;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A socket lookup that refuses a host name when any address it resolves to is not public, with
 * the error `refusal` makes. Used as the connection's own lookup, the addresses checked are the
 * addresses connected to: a name that resolves differently a moment later gains nothing.
 */
export function publicOnlyLookup(refusal: (host: string, address: string, range: string) => Error) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      for (const { address } of addresses) {
        const range = nonPublicRange(address);
        if (range) return callback(refusal(hostname, address, range) as NodeJS.ErrnoException, []);
      }
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}
