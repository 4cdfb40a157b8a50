/**
 * A browser origin as browsers send it in the `Origin` header (`https://shop.example`,
 * `http://localhost:3000`), or null when `text` is not one (a path, a query, another scheme).
 *
 * @example
 * parseOrigin('https://Shop.Example/');   // 'https://shop.example'
 * parseOrigin('https://shop.example/x');  // null
 */
export function parseOrigin(text: string): string | null {
  const entry = text.trim();
  if (!URL.canParse(entry)) return null;
  const url = new URL(entry);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  if (entry.replace(/\/$/, '').toLowerCase() !== url.origin) return null;
  return url.origin;
}
