import { useRef, useState } from 'preact/hooks';
import { bytes } from '../format.js';

/** Files to upload: chosen with the file dialog, or dropped on the zone. */
export function FilePicker({ files, onChange, id }: { files: File[]; onChange: (files: File[]) => void; id: string }) {
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const add = (list: FileList | null) => {
    if (list && list.length > 0) onChange([...files, ...Array.from(list)]);
  };
  return (
    <div class="file-picker">
      <div
        class={`drop-zone${over ? ' over' : ''}`}
        data-testid={`${id}-drop`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          add(e.dataTransfer?.files ?? null);
        }}
      >
        <label for={id}>Drop files here, or choose files</label>
        <input id={id} ref={input} type="file" multiple onChange={(e) => {
          add((e.target as HTMLInputElement).files);
          if (input.current) input.current.value = '';
        }} />
      </div>
      {files.length > 0 && (
        <ul class="file-list" aria-label="Files to upload">
          {files.map((file, index) => (
            <li key={`${file.name}-${index}`}>
              <span class="name">{file.name}</span> <span class="muted">{bytes(file.size)}</span>
              <button type="button" class="link" aria-label={`Remove ${file.name}`} onClick={() => onChange(files.filter((_, i) => i !== index))}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function UploadProgress({ progress }: { progress: { loaded: number; total: number | undefined } | null }) {
  if (!progress) return null;
  const percent = progress.total ? Math.round((progress.loaded / progress.total) * 100) : undefined;
  return (
    <div class="upload-progress">
      <progress max={100} value={percent} aria-label="Upload progress" />
      <span class="muted">{percent === undefined ? bytes(progress.loaded) : `${percent}%`}</span>
    </div>
  );
}
