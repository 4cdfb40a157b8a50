import type { ArtifactVersion } from '@kiln/sdk';
import { diffLines } from 'diff';
import Papa from 'papaparse';
import { useEffect, useState } from 'preact/hooks';
import { downloadUrl, errorText, kiln } from '../api.js';
import { Markdown } from '../components/markdown.js';
import { ErrorNote } from '../components/status.js';
import { bytes } from '../format.js';

const TEXT_LIMIT = 2 * 1024 * 1024;
const CSV_ROWS = 500;
const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript|x-yaml|yaml|toml|x-sh|sql|typescript))/;
const TEXT_NAMES = /\.(txt|md|markdown|csv|tsv|json|ya?ml|toml|ini|cfg|conf|log|js|mjs|cjs|ts|tsx|jsx|py|rb|go|rs|java|kt|c|h|cpp|hpp|cs|php|sh|bash|zsh|sql|html?|css|scss|xml|svg|env|gitignore|dockerfile)$/i;

type Kind = 'markdown' | 'csv' | 'html' | 'text' | 'image' | 'pdf' | 'none';

export function kindOf(path: string, mimeType: string): Kind {
  const lower = path.toLowerCase();
  if (/\.(md|markdown)$/.test(lower) || mimeType.startsWith('text/markdown')) return 'markdown';
  if (/\.csv$/.test(lower) || mimeType.startsWith('text/csv')) return 'csv';
  if (/\.html?$/.test(lower) || mimeType.startsWith('text/html')) return 'html';
  if (mimeType === 'application/pdf' || lower.endsWith('.pdf')) return 'pdf';
  if (mimeType.startsWith('image/') && !mimeType.startsWith('image/svg')) return 'image';
  if (TEXT_TYPES.test(mimeType) || TEXT_NAMES.test(lower)) return 'text';
  return 'none';
}

async function textOf(taskId: string, path: string, version: number): Promise<string> {
  return new TextDecoder().decode(await kiln.artifacts.bytes(taskId, path, { version }));
}

/**
 * A file's content shown as data: text in `<pre>` (never parsed as markup), Markdown through the
 * sanitiser, CSV as a table, images by `<img>`, PDF in an `<object>`, HTML as source or in a frame
 * sandboxed without scripts.
 */
export function Preview({ taskId, path, version, mimeType, size }: { taskId: string; path: string; version: number; mimeType: string; size: number }) {
  const kind = kindOf(path, mimeType);
  const [text, setText] = useState<string | null>(null);
  const [blobUrl, setBlobUrl] = useState<string | null>(null);
  const [rendered, setRendered] = useState(kind !== 'html');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setText(null);
    setError(null);
    let url: string | null = null;
    if (['markdown', 'csv', 'html', 'text'].includes(kind) && size <= TEXT_LIMIT) {
      textOf(taskId, path, version).then(setText, (err) => setError(errorText(err)));
    }
    if (kind === 'pdf' || (kind === 'html' && size <= TEXT_LIMIT)) {
      kiln.artifacts.bytes(taskId, path, { version }).then((data) => {
        url = URL.createObjectURL(new Blob([data as BlobPart], { type: kind === 'pdf' ? 'application/pdf' : 'text/html' }));
        setBlobUrl(url);
      }, (err) => setError(errorText(err)));
    }
    return () => {
      if (url) URL.revokeObjectURL(url);
      setBlobUrl(null);
    };
  }, [taskId, path, version, kind, size]);

  if (error) return <ErrorNote error={error} />;
  if (kind === 'none') return <p class="muted">No preview for {mimeType}; download it.</p>;
  if (kind !== 'image' && kind !== 'pdf' && size > TEXT_LIMIT) return <p class="muted">Too large to preview ({bytes(size)}); download it.</p>;
  if (kind === 'image') return <img class="preview-image" src={downloadUrl(taskId, path, version)} alt={`Preview of ${path}`} />;
  if (kind === 'pdf') return blobUrl ? <object class="preview-pdf" data={blobUrl} type="application/pdf" aria-label={`PDF ${path}`}><p>This browser cannot show PDF here; download it.</p></object> : <p class="muted">Loading…</p>;
  if (text === null) return <p class="muted">Loading…</p>;
  const toggle = (label: string) => (
    <button type="button" class="link" onClick={() => setRendered(!rendered)}>{rendered ? 'Show source' : label}</button>
  );
  switch (kind) {
    case 'markdown':
      return <div class="preview">{toggle('Show rendered')}{rendered ? <Markdown text={text} label={`Preview of ${path}`} /> : <pre class="source">{text}</pre>}</div>;
    case 'csv':
      return <div class="preview">{toggle('Show table')}{rendered ? <CsvTable text={text} /> : <pre class="source">{text}</pre>}</div>;
    case 'html':
      return (
        <div class="preview">
          {toggle('Show rendered (sandboxed, no scripts)')}
          {rendered && blobUrl ? <iframe class="preview-html" sandbox="" src={blobUrl} title={`Rendered ${path}`} /> : <pre class="source">{text}</pre>}
        </div>
      );
    default:
      return <pre class="source" aria-label={`Content of ${path}`}>{text}</pre>;
  }
}

function CsvTable({ text }: { text: string }) {
  const parsed = Papa.parse<string[]>(text, { skipEmptyLines: true, preview: CSV_ROWS + 1 });
  const [head = [], ...rows] = parsed.data;
  return (
    <div class="table-wrap">
      <table class="csv">
        <thead><tr>{head.map((cell, i) => <th key={i} scope="col">{cell}</th>)}</tr></thead>
        <tbody>{rows.slice(0, CSV_ROWS).map((row, i) => <tr key={i}>{row.map((cell, j) => <td key={j}>{cell}</td>)}</tr>)}</tbody>
      </table>
      {rows.length > CSV_ROWS && <p class="muted small">The first {CSV_ROWS} rows.</p>}
    </div>
  );
}

/** Lines added and removed between two versions of a text file (jsdiff). */
export function VersionDiff({ taskId, path, versions, mimeType }: { taskId: string; path: string; versions: ArtifactVersion[]; mimeType: string }) {
  const [from, setFrom] = useState(versions[1]?.version ?? 1);
  const [to, setTo] = useState(versions[0]?.version ?? 1);
  const [parts, setParts] = useState<ReturnType<typeof diffLines> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const textual = kindOf(path, mimeType) !== 'none' && !['image', 'pdf'].includes(kindOf(path, mimeType));
  const large = versions.some((v) => (v.version === from || v.version === to) && v.size > TEXT_LIMIT);
  useEffect(() => {
    if (!textual || large) return;
    setParts(null);
    Promise.all([textOf(taskId, path, from), textOf(taskId, path, to)]).then(([a, b]) => setParts(diffLines(a, b)), (err) => setError(errorText(err)));
  }, [taskId, path, from, to, textual, large]);
  if (!textual) return null;
  const select = (value: number, set: (n: number) => void, label: string) => (
    <label>
      {label}{' '}
      <select value={value} onChange={(e) => set(Number((e.target as HTMLSelectElement).value))}>
        {versions.map((v) => <option key={v.version} value={v.version}>v{v.version}</option>)}
      </select>
    </label>
  );
  return (
    <section class="diff" aria-label="Compare versions">
      <h3>Compare versions</h3>
      <div class="actions">{select(from, setFrom, 'From')}{select(to, setTo, 'to')}</div>
      <ErrorNote error={error} />
      {large ? <p class="muted">Too large to compare here.</p> : parts === null ? <p class="muted">Loading…</p> : (
        <pre class="diff-lines">
          {parts.map((part, i) => {
            const sign = part.added ? '+' : part.removed ? '-' : ' ';
            const lines = part.value.replace(/\n$/, '').split('\n');
            return (
              <span key={i} class={part.added ? 'added' : part.removed ? 'removed' : 'same'}>
                {lines.map((line) => `${sign} ${line}\n`).join('')}
              </span>
            );
          })}
        </pre>
      )}
    </section>
  );
}
