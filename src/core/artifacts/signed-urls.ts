import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

export type SignatureCheck = 'valid' | 'expired' | 'invalid';

/**
 * Short-lived download links for one artifact version, signed with HMAC-SHA256 under a server
 * secret. They need no API key, so a browser can follow them; changing the version, the expiry
 * or the signature makes them invalid.
 *
 * @example
 * const query = urls.sign(version.id);           // { expires, signature }
 * urls.check(version.id, query.expires, query.signature); // 'valid'
 */
export class SignedUrls {
  constructor(
    private readonly secret: Buffer,
    readonly ttlMs: number,
  ) {}

  /** Loads the secret kept in the data dir, creating it (readable by the owner only) on first start. */
  static async fromDataDir(dataDir: string, ttlMs: number): Promise<SignedUrls> {
    const file = path.join(dataDir, 'signing-key');
    let secret = await fs.readFile(file).catch(() => null);
    if (!secret || secret.length < 32) {
      secret = randomBytes(32);
      await fs.writeFile(file, secret, { mode: 0o600, flag: 'wx' }).catch(async () => {
        secret = await fs.readFile(file);
      });
    }
    return new SignedUrls(secret, ttlMs);
  }

  sign(subject: string, now = Date.now(), ttlMs = this.ttlMs): { expires: number; signature: string } {
    const expires = Math.floor((now + ttlMs) / 1000);
    return { expires, signature: this.mac(subject, expires) };
  }

  /** The link's path and query for a version (without scheme and host). */
  path(versionId: string, now = Date.now()): string {
    const { expires, signature } = this.sign(versionId, now);
    return `/files/${encodeURIComponent(versionId)}?expires=${expires}&signature=${signature}`;
  }

  check(subject: string, expires: string | undefined, signature: string | undefined, now = Date.now()): SignatureCheck {
    if (!expires || !signature || !/^\d+$/.test(expires) || !/^[0-9a-f]{64}$/.test(signature)) return 'invalid';
    const expected = Buffer.from(this.mac(subject, Number(expires)), 'hex');
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return 'invalid';
    return Number(expires) * 1000 < now ? 'expired' : 'valid';
  }

  private mac(subject: string, expires: number): string {
    return createHmac('sha256', this.secret).update(`${subject}\n${expires}`).digest('hex');
  }
}
