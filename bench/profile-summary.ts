/**
 * Summarizes V8 CPU profiles (.cpuprofile, from `node --cpu-prof`): where the time goes by
 * function (self), by package or Kiln source file (self), and inclusive time of Kiln's own
 * functions (src/). Used by `npm run bench -- --cpu-prof`; also runnable on its own:
 *   node dist/bench/profile-summary.js FILE.cpuprofile [...]
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_SRC, REPO } from './lib/paths.js';

export const PROFILES_DIR = path.join(BENCH_SRC, '.profiles');

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a frame's code lives: a Kiln source file, an npm package, node itself, or a V8 pseudo-frame. */
function place(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const file = url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  if (pkg) return pkg[1]!;
  const own = /\/dist\/(src|bench)\/(.+)\.js$/.exec(file);
  if (own) return `${own[1]}/${own[2]}.ts`;
  if (file.startsWith('node:internal/')) return 'node:internal/' + file.slice(14).split('/').slice(0, 2).join('/');
  if (file.startsWith('node:')) return file;
  return path.relative(REPO, file) || file;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** share of samples, in %, by function (self time) */
  topSelf: { fn: string; place: string; pct: number; ms: number }[];
  byPlace: { place: string; pct: number; ms: number }[];
  /** time with a frame of that place anywhere on the stack */
  byPlaceInclusive: { place: string; pct: number; ms: number }[];
  /** Kiln's own functions (src/), time including what they call */
  srcInclusive: { fn: string; place: string; pct: number; ms: number }[];
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) byId.set(node.id, node);
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let totalUs = 0;
  for (const v of self.values()) totalUs += v;

  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}\u0000${place(n.callFrame.url, n.callFrame.functionName)}:${n.callFrame.lineNumber + 1}`;
  const selfByFn = new Map<string, number>();
  const selfByPlace = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const placeInclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    selfByFn.set(key(node), (selfByFn.get(key(node)) ?? 0) + us);
    const p = place(node.callFrame.url, node.callFrame.functionName);
    selfByPlace.set(p, (selfByPlace.get(p) ?? 0) + us);
    // inclusive: every distinct src/ function on the stack gets the sample once
    const seen = new Set<string>();
    const seenPlaces = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur)!;
      const where = place(n.callFrame.url, n.callFrame.functionName);
      if (!seenPlaces.has(where)) {
        seenPlaces.add(where);
        placeInclusive.set(where, (placeInclusive.get(where) ?? 0) + us);
      }
      if (!where.startsWith('src/')) continue;
      const k = key(n);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const pct = (us: number) => Math.round((us / totalUs) * 1000) / 10;
  const ms = (us: number) => Math.round(us / 100) / 10;
  const split = (k: string) => {
    const [fn, where] = k.split('\u0000');
    return { fn: fn!, place: where! };
  };
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    file: path.relative(REPO, file),
    totalMs: ms(totalUs),
    topSelf: sorted(selfByFn)
      .slice(0, top)
      .map(([k, us]) => ({ ...split(k), pct: pct(us), ms: ms(us) })),
    byPlace: sorted(selfByPlace)
      .slice(0, top)
      .map(([p, us]) => ({ place: p, pct: pct(us), ms: ms(us) })),
    byPlaceInclusive: sorted(placeInclusive)
      .slice(0, top * 2)
      .map(([p, us]) => ({ place: p, pct: pct(us), ms: ms(us) })),
    srcInclusive: sorted(inclusive)
      .slice(0, top)
      .map(([k, us]) => ({ ...split(k), pct: pct(us), ms: ms(us) })),
  };
}

/** Every profile under bench/.profiles/<workload>/, summarized. */
export function summarizeProfiles(): Record<string, ProfileSummary[]> {
  const out: Record<string, ProfileSummary[]> = {};
  if (!fs.existsSync(PROFILES_DIR)) return out;
  for (const workload of fs.readdirSync(PROFILES_DIR).sort()) {
    const dir = path.join(PROFILES_DIR, workload);
    if (!fs.statSync(dir).isDirectory()) continue;
    out[workload] = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => summarizeProfile(path.join(dir, f)));
  }
  return out;
}

export function printSummary(s: ProfileSummary): string {
  const lines = [`${s.file}: ${s.totalMs} ms sampled`];
  lines.push('  self time by place:');
  for (const p of s.byPlace) lines.push(`    ${String(p.pct).padStart(5)}%  ${p.place}`);
  lines.push('  time by place, inclusive (anywhere on the stack):');
  for (const p of s.byPlaceInclusive) lines.push(`    ${String(p.pct).padStart(5)}%  ${p.place}`);
  lines.push('  self time by function:');
  for (const f of s.topSelf) lines.push(`    ${String(f.pct).padStart(5)}%  ${f.fn}  (${f.place})`);
  lines.push('  Kiln functions, inclusive:');
  for (const f of s.srcInclusive) lines.push(`    ${String(f.pct).padStart(5)}%  ${f.fn}  (${f.place})`);
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    for (const [workload, list] of Object.entries(summarizeProfiles())) {
      for (const s of list) process.stdout.write(`== ${workload}\n${printSummary(s)}\n\n`);
    }
  } else {
    for (const f of files) process.stdout.write(`${printSummary(summarizeProfile(f))}\n\n`);
  }
}
