import { convert } from 'html-to-text';
import type { OutboundFetch } from '../../ports/outbound-http.js';
import { ToolArgumentError, type ToolOutcome } from './tool-types.js';

const MAX_BODY_BYTES = 5 * 1024 * 1024;
const MAX_TEXT_BYTES = 100 * 1024;
const TIME_LIMIT_MS = 30_000;
const MAX_REDIRECTS = 5;

/**
 * `fetch_url {url}`: a GET of an http(s) URL, made by Kiln itself (offered only where tasks are
 * given the network). Every hop of a redirect is checked against the same address rules as the
 * first request; HTML is turned into readable text; size and time are bounded.
 */
export async function fetchUrl(fetch: OutboundFetch, rawUrl: string, signal: AbortSignal): Promise<ToolOutcome> {
  let url = parseHttpUrl(rawUrl);
  const limit = AbortSignal.any([signal, AbortSignal.timeout(TIME_LIMIT_MS)]);
  try {
    for (let hop = 0; ; hop++) {
      const response = await fetch(url, {
        method: 'GET',
        headers: { accept: 'text/html, text/plain;q=0.9, application/json;q=0.9, */*;q=0.5', 'user-agent': 'Kiln fetch_url' },
        signal: limit,
      });
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        if (hop >= MAX_REDIRECTS) return { status: 'error', output: `${url.href} redirected more than ${MAX_REDIRECTS} times; stopped.` };
        url = parseHttpUrl(new URL(location, url).href);
        continue;
      }
      return await describe(response, url);
    }
  } catch (error) {
    if (signal.aborted) throw error;
    if (limit.aborted) return { status: 'error', output: `${url.href} did not answer within ${TIME_LIMIT_MS / 1000} s.` };
    const cause = (error as { cause?: unknown }).cause;
    const message = cause instanceof Error ? cause.message : (error as Error).message;
    return { status: 'error', output: `Could not fetch ${url.href}: ${message}` };
  }
}

function parseHttpUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ToolArgumentError(`"${raw}" is not a URL; give an absolute http:// or https:// URL.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ToolArgumentError(`Only http:// and https:// URLs can be fetched, not ${url.protocol}`);
  return url;
}

async function describe(response: Response, url: URL): Promise<ToolOutcome> {
  const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const { bytes, cut } = await readBounded(response);
  const head = `HTTP ${response.status} ${response.statusText} from ${url.href}${type ? ` (${type})` : ''}`;
  const status = response.ok ? 'success' : 'error';
  const textual = type === '' || type.startsWith('text/') || /json|xml|javascript/.test(type);
  if (!textual || bytes.subarray(0, 8192).includes(0)) {
    return { status, output: `${head}\n[${bytes.length}${cut ? '+' : ''} bytes of ${type || 'binary'} content, not shown]` };
  }
  let text = bytes.toString('utf8');
  if (type === 'text/html' || type === 'application/xhtml+xml') {
    text = convert(text, { wordwrap: false, selectors: [{ selector: 'img', format: 'skip' }] });
  }
  let note = cut ? `\n... (the response was longer than ${MAX_BODY_BYTES} bytes; the rest was not read)` : '';
  if (Buffer.byteLength(text) > MAX_TEXT_BYTES) {
    const kept = Buffer.from(text).subarray(0, MAX_TEXT_BYTES).toString('utf8').replace(/\uFFFD$/, '');
    note = `\n... (${Buffer.byteLength(text) - Buffer.byteLength(kept)} more bytes of text not shown)${note}`;
    text = kept;
  }
  return { status, output: `${head}\n\n${text}${note}` };
}

async function readBounded(response: Response): Promise<{ bytes: Buffer; cut: boolean }> {
  if (!response.body) return { bytes: Buffer.alloc(0), cut: false };
  const chunks: Buffer[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { bytes: Buffer.concat(chunks), cut: false };
    chunks.push(Buffer.from(value));
    size += value.length;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      return { bytes: Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES), cut: true };
    }
  }
}
