import path from 'node:path';
import contentType from 'content-type';

const BY_EXTENSION: Record<string, [mediaType: string, category: string]> = {
  csv: ['text/csv', 'csv'],
  tsv: ['text/tab-separated-values', 'csv'],
  pdf: ['application/pdf', 'pdf'],
  png: ['image/png', 'image'],
  jpg: ['image/jpeg', 'image'],
  jpeg: ['image/jpeg', 'image'],
  gif: ['image/gif', 'image'],
  webp: ['image/webp', 'image'],
  svg: ['image/svg+xml', 'image'],
  bmp: ['image/bmp', 'image'],
  ico: ['image/x-icon', 'image'],
  md: ['text/markdown', 'text'],
  markdown: ['text/markdown', 'text'],
  txt: ['text/plain', 'text'],
  log: ['text/plain', 'text'],
  html: ['text/html', 'code'],
  htm: ['text/html', 'code'],
  css: ['text/css', 'code'],
  js: ['text/javascript', 'code'],
  mjs: ['text/javascript', 'code'],
  cjs: ['text/javascript', 'code'],
  ts: ['text/x-typescript', 'code'],
  tsx: ['text/x-typescript', 'code'],
  jsx: ['text/javascript', 'code'],
  py: ['text/x-python', 'code'],
  rb: ['text/x-ruby', 'code'],
  go: ['text/x-go', 'code'],
  rs: ['text/x-rust', 'code'],
  java: ['text/x-java', 'code'],
  c: ['text/x-c', 'code'],
  h: ['text/x-c', 'code'],
  cpp: ['text/x-c++', 'code'],
  sh: ['text/x-shellscript', 'code'],
  sql: ['application/sql', 'code'],
  json: ['application/json', 'json'],
  jsonl: ['application/jsonl', 'json'],
  yaml: ['application/yaml', 'code'],
  yml: ['application/yaml', 'code'],
  toml: ['application/toml', 'code'],
  xml: ['application/xml', 'code'],
  zip: ['application/zip', 'archive'],
  gz: ['application/gzip', 'archive'],
  tgz: ['application/gzip', 'archive'],
  tar: ['application/x-tar', 'archive'],
  xlsx: ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'spreadsheet'],
  xls: ['application/vnd.ms-excel', 'spreadsheet'],
  docx: ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'document'],
  doc: ['application/msword', 'document'],
  pptx: ['application/vnd.openxmlformats-officedocument.presentationml.presentation', 'document'],
  mp3: ['audio/mpeg', 'audio'],
  wav: ['audio/wav', 'audio'],
  mp4: ['video/mp4', 'video'],
  webm: ['video/webm', 'video'],
};

/**
 * The media type and coarse category of a file, from its extension, or from a look at its first
 * bytes when the extension says nothing (text without NUL bytes, else binary).
 */
export function mediaTypeOf(name: string, head?: Buffer): { mediaType: string; category: string } {
  const ext = path.extname(name).slice(1).toLowerCase();
  const known = BY_EXTENSION[ext];
  if (known) return { mediaType: known[0], category: known[1] };
  if (head && !head.includes(0)) return { mediaType: 'text/plain', category: 'text' };
  return { mediaType: 'application/octet-stream', category: 'other' };
}

/** Whether `value` is a media type with optional parameters (`text/markdown; charset=utf-8`), as an HTTP header can carry it. */
export function isMediaType(value: string): boolean {
  if (value.length > 255) return false;
  try {
    contentType.parse(value);
    return true;
  } catch {
    return false;
  }
}
