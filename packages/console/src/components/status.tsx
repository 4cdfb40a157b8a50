import { statusLabel } from '../format.js';

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status}`} data-status={status}>{statusLabel(status)}</span>;
}

export function ErrorNote({ error }: { error: string | null }) {
  if (!error) return null;
  return <p class="error" role="alert">{error}</p>;
}
