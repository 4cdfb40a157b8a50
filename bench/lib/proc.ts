import fs from 'node:fs';

/** Readings of another process from /proc (Linux). Every reader returns null when the process is gone. */

const CLK_TCK = 100;

/** User + system CPU time of the process (all its threads), in milliseconds. */
export function cpuMs(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}

function statusField(pid: number, field: string): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** Resident set size, in KiB. */
export const rssKb = (pid: number): number | null => statusField(pid, 'VmRSS');
/** Peak resident set size since start or since {@link resetPeakRss}, in KiB. */
export const peakRssKb = (pid: number): number | null => statusField(pid, 'VmHWM');

/** Resets VmHWM (writing 5 to clear_refs); false where the kernel refuses. */
export function resetPeakRss(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Number of open file descriptors. */
export function openFds(pid: number): number | null {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** Direct and indirect children of a process. */
export function descendants(pid: number): number[] {
  const children: number[] = [];
  let list: string[] = [];
  try {
    list = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return children;
  }
  for (const tid of list) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) for (const c of text.split(/\s+/)) children.push(Number(c));
    } catch {
      /* thread ended */
    }
  }
  return children.flatMap((c) => [c, ...descendants(c)]);
}

export function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Samples VmRSS every `intervalMs` until stopped; returns the highest reading (KiB). */
export function sampleRss(pid: number, intervalMs = 10): { stop(): number } {
  let max = rssKb(pid) ?? 0;
  const timer = setInterval(() => {
    const v = rssKb(pid);
    if (v !== null && v > max) max = v;
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const v = rssKb(pid);
      if (v !== null && v > max) max = v;
      return max;
    },
  };
}

/** Processes whose command name is `name` (e.g. every PostgreSQL server process on the machine). */
export function processesNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) pids.push(Number(entry));
    } catch {
      /* ended */
    }
  }
  return pids;
}

/** CPU time of several processes together (ms); processes that ended count as nothing more. */
export function cpuMsOf(pids: number[]): Map<number, number> {
  const readings = new Map<number, number>();
  for (const pid of pids) {
    const ms = cpuMs(pid);
    if (ms !== null) readings.set(pid, ms);
  }
  return readings;
}

/** CPU used between two readings of {@link cpuMsOf}; a process missing from the first started in between. */
export function cpuBetween(start: Map<number, number>, end: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of end) total += ms - (start.get(pid) ?? 0);
  return total;
}
