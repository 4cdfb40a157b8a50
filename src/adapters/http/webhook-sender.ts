import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { InvalidInput } from '../../core/errors.js';
import type { AttemptOutcome } from '../../core/webhooks/webhook-types.js';
import type { WebhookSender } from '../../ports/webhook-sender.js';
import { nonPublicRange, publicOnlyLookup } from './public-address.js';

/** Bytes of an endpoint's answer read (and dropped); the rest is cut off. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** An address webhooks may not be sent to, with why. */
class ForbiddenAddress extends Error {
  constructor(host: string, address: string, range: string) {
    super(
      `${host} resolves to ${address} (${range}): webhooks are not sent to loopback, private, link-local or other non-public addresses ` +
        '(set KILN_WEBHOOK_ALLOW_PRIVATE=true to allow them)',
    );
  }
}

/** The socket's DNS lookup, refusing a name when any of its addresses is not public. */
const publicLookup = publicOnlyLookup((host, address, range) => new ForbiddenAddress(host, address, range));

/**
 * Webhook requests over node:http(s). Unless private addresses are allowed, every address a
 * host name resolves to must be a public unicast address, and the connection is made to the
 * addresses that were checked (the check runs in the socket's own lookup), so a name that
 * resolves differently a moment later cannot slip a private address in.
 */
export class HttpWebhookSender implements WebhookSender {
  constructor(private readonly options: { allowPrivate: boolean; timeoutMs: number }) {}

  async check(url: string): Promise<void> {
    const target = parseTarget(url);
    if (this.options.allowPrivate) return;
    try {
      const addresses = net.isIP(target.host) ? [target.host] : (await dns.promises.lookup(target.host, { all: true, verbatim: true })).map((a) => a.address);
      for (const address of addresses) refuseNonPublic(target.host, address);
    } catch (error) {
      if (error instanceof ForbiddenAddress) throw new InvalidInput(`url: ${error.message}.`, 'url');
      throw new InvalidInput(`url: the host ${target.host} cannot be resolved (${(error as { code?: string }).code ?? (error as Error).message}).`, 'url');
    }
  }

  post(url: string, headers: Record<string, string>, body: string): Promise<AttemptOutcome> {
    const started = performance.now();
    return new Promise<AttemptOutcome>((resolve) => {
      let settled = false;
      const done = (statusCode: number | null, error: string | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        const ok = error === null && statusCode !== null && statusCode >= 200 && statusCode < 300;
        resolve({ ok, statusCode, error, durationMs: Math.round(performance.now() - started) });
      };
      let target: URL;
      try {
        target = new URL(url);
        const host = parseTarget(url).host;
        if (!this.options.allowPrivate && net.isIP(host)) refuseNonPublic(host, host);
      } catch (error) {
        resolve({ ok: false, statusCode: null, error: (error as Error).message, durationMs: 0 });
        return;
      }
      const client = target.protocol === 'https:' ? https : http;
      const request = client.request(target, {
        method: 'POST',
        agent: false,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'Kiln-Webhooks/1' },
        ...(this.options.allowPrivate ? {} : { lookup: publicLookup }),
      });
      const deadline = setTimeout(() => request.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)), this.options.timeoutMs);
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        const error = status >= 300 && status < 400 ? `redirects are not followed (Location: ${response.headers.location ?? 'none'})` : status >= 300 ? `HTTP ${status}` : null;
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) response.destroy();
        });
        response.on('end', () => done(status, error));
        response.on('close', () => done(status, error));
        response.on('error', () => done(status, error));
      });
      request.on('error', (error) => done(null, (error as Error).message));
      request.end(body);
    });
  }
}

/** `http(s)://host...` with the host (IPv6 without brackets); anything else is invalid input. */
function parseTarget(url: string): { host: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InvalidInput('url must be an absolute http:// or https:// URL.', 'url');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new InvalidInput('url must be an http:// or https:// URL.', 'url');
  return { host: parsed.hostname.replace(/^\[|\]$/g, '') };
}

function refuseNonPublic(host: string, address: string): void {
  const range = nonPublicRange(address);
  if (range) throw new ForbiddenAddress(host, address, range);
}
