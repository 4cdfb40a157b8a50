import net from 'node:net';
import type { FastifyRequest } from 'fastify';

/**
 * The address signed download links are built on. `KILN_PUBLIC_URL` when set. Otherwise the
 * address the client connected to: the Host header is used only when it names that address (or
 * `localhost` on a loopback connection), so a forged Host cannot point a link somewhere else.
 *
 * @example
 * baseUrlOf(request, undefined); // "http://127.0.0.1:8080"
 */
export function baseUrlOf(request: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl;
  const socket = request.raw.socket;
  const local = (socket.localAddress ?? '127.0.0.1').replace(/^::ffff:(?=\d+\.)/, '');
  const localHost = net.isIPv6(local) ? `[${local}]` : local;
  const port = socket.localPort;
  const claimed = request.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const loopback = local === '::1' || local.startsWith('127.');
  if (claimed === local || (loopback && claimed === 'localhost')) return `${request.protocol}://${request.host}`;
  return `${request.protocol}://${localHost}:${port}`;
}
