import type { ArtifactFile, ArtifactVersion } from '@kiln/sdk';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { archiveUrl, downloadUrl, errorText, kiln } from '../api.js';
import { ErrorNote } from '../components/status.js';
import { bytes, when } from '../format.js';
import { Preview, VersionDiff } from './preview.js';

interface Folder {
  name: string;
  path: string;
  folders: Map<string, Folder>;
  files: ArtifactFile[];
}

function treeOf(files: ArtifactFile[]): Folder {
  const root: Folder = { name: '', path: '', folders: new Map(), files: [] };
  for (const file of files) {
    const parts = (file.path ?? file.name).split('/');
    let folder = root;
    for (const part of parts.slice(0, -1)) {
      let next = folder.folders.get(part);
      if (!next) folder.folders.set(part, (next = { name: part, path: folder.path ? `${folder.path}/${part}` : part, folders: new Map(), files: [] }));
      folder = next;
    }
    folder.files.push(file);
  }
  return root;
}

/** The task's workspace as a tree; a chosen file's versions, preview, diff, download and signed link. */
export function FilesView({ taskId }: { taskId: string }) {
  const [files, setFiles] = useState<ArtifactFile[] | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    kiln.artifacts.list(taskId).then(setFiles, (err) => setError(errorText(err)));
  }, [taskId]);
  const tree = useMemo(() => treeOf(files ?? []), [files]);
  const file = files?.find((f) => f.path === selected) ?? null;

  if (error) return <ErrorNote error={error} />;
  if (!files) return <p class="muted">Loading…</p>;
  if (files.length === 0) return <p class="muted">The workspace has no files yet.</p>;
  return (
    <div class="files">
      <div class="tree-pane">
        <p><a class="button" href={archiveUrl(taskId, '')} download>Download all as zip</a></p>
        <FolderView taskId={taskId} folder={tree} selected={selected} onSelect={setSelected} />
      </div>
      <div class="file-pane">{file ? <FileDetail key={file.path} taskId={taskId} file={file} /> : <p class="muted">Choose a file to preview it.</p>}</div>
    </div>
  );
}

function FolderView({ taskId, folder, selected, onSelect }: { taskId: string; folder: Folder; selected: string | null; onSelect: (path: string) => void }) {
  return (
    <ul class="tree" role={folder.path ? 'group' : 'tree'} aria-label={folder.path ? undefined : 'Files'}>
      {[...folder.folders.values()].sort((a, b) => a.name.localeCompare(b.name)).map((sub) => (
        <li key={sub.path} role="treeitem" aria-expanded="true">
          <details open>
            <summary>
              <span class="folder-name">{sub.name}/</span>{' '}
              <a class="small" href={archiveUrl(taskId, sub.path)} download aria-label={`Download folder ${sub.path} as zip`}>zip</a>
            </summary>
            <FolderView taskId={taskId} folder={sub} selected={selected} onSelect={onSelect} />
          </details>
        </li>
      ))}
      {folder.files.sort((a, b) => a.name.localeCompare(b.name)).map((file) => (
        <li key={file.path} role="treeitem" aria-selected={selected === file.path}>
          <button type="button" class={`file-button${selected === file.path ? ' selected' : ''}`} data-path={file.path} onClick={() => onSelect(file.path!)}>
            <span class="name">{file.name}</span>
            <span class="muted small">{bytes(file.size)} · {file.mimeType} · v{file.version}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}

function FileDetail({ taskId, file }: { taskId: string; file: ArtifactFile }) {
  const path = file.path!;
  const [versions, setVersions] = useState<ArtifactVersion[]>([]);
  const [version, setVersion] = useState(file.version);
  const [link, setLink] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    kiln.artifacts.versions(taskId, path).then((v) => setVersions(v.versions), (err) => setError(errorText(err)));
  }, [taskId, path]);
  const current = versions.find((v) => v.version === version);
  const copyLink = async () => {
    try {
      const { url } = await kiln.artifacts.link(taskId, path, { version });
      setLink(url);
      await navigator.clipboard?.writeText(url).catch(() => undefined);
    } catch (err) {
      setError(errorText(err));
    }
  };
  return (
    <div class="file-detail">
      <h2 class="file-path">{path}</h2>
      <p class="muted small">
        {bytes(current?.size ?? file.size)} · {current?.mimeType ?? file.mimeType} · {when(current?.createdAt ?? file.modifiedAt)}
      </p>
      <div class="actions">
        <label>
          Version{' '}
          <select value={version} onChange={(e) => setVersion(Number((e.target as HTMLSelectElement).value))}>
            {(versions.length > 0 ? versions : [{ version: file.version } as ArtifactVersion]).map((v) => (
              <option key={v.version} value={v.version}>v{v.version}{v.version === file.version ? ' (latest)' : ''}</option>
            ))}
          </select>
        </label>
        <a class="button" href={downloadUrl(taskId, path, version)} download={file.name}>Download</a>
        <button type="button" onClick={copyLink}>Copy signed link</button>
      </div>
      {link && (
        <p>
          <label>Signed link (copied) <input class="link-field" readOnly value={link} onFocus={(e) => (e.target as HTMLInputElement).select()} /></label>
        </p>
      )}
      <ErrorNote error={error} />
      <Preview taskId={taskId} path={path} version={version} mimeType={current?.mimeType ?? file.mimeType} size={current?.size ?? file.size} />
      {versions.length > 1 && <VersionDiff taskId={taskId} path={path} versions={versions} mimeType={file.mimeType} />}
    </div>
  );
}
