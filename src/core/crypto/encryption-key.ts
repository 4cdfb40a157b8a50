import { hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

const KEY_FILE = 'encryption-key';

/**
 * The installation's encryption key: from KILN_ENCRYPTION_KEY (hex) when set, otherwise kept in
 * the data dir (readable by the owner only) and created on first start. Every process of one
 * installation must have the same key: data sealed under one key cannot be opened with another,
 * and widget tokens signed by one process must verify in every other.
 *
 * @example
 * const master = await encryptionKey(config.encryptionKey, config.dataDir);
 * const box = new SealedBox(deriveKey(master, 'widget variables'));
 */
export async function encryptionKey(hex: string | undefined, dataDir: string): Promise<Buffer> {
  if (hex) return Buffer.from(hex, 'hex');
  const file = path.join(dataDir, KEY_FILE);
  let key = await fs.readFile(file).catch(() => null);
  if (!key || key.length < 32) {
    key = randomBytes(32);
    // Two processes starting together on one data dir: the second keeps the first one's key.
    await fs.writeFile(file, key, { mode: 0o600, flag: 'wx' }).catch(async () => {
      key = await fs.readFile(file);
    });
  }
  return key;
}

/**
 * A 32-byte key for one purpose, derived from the installation's key with HKDF-SHA256, so that
 * no key is used for two things (encryption and token signatures).
 */
export function deriveKey(master: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `kiln ${purpose}`, 32));
}
