import type { Settings } from './settings.js';

export interface PeerRow {
  workload: string;
  metric: string;
  peer: string;
  kiln: number | null;
  peerValue: number | null;
  unit: string;
  ratio: number | null;
  target?: string;
  met?: boolean | null;
  note?: string;
}

export interface PeerReport {
  rows: PeerRow[];
  notes: string[];
  data: Record<string, unknown>;
}

export async function runPeers(_settings: Settings, log: (line: string) => void): Promise<PeerReport> {
  log('peers: not implemented yet');
  return { rows: [], notes: ['peers not run'], data: {} };
}
