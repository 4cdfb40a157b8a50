import { execFile } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { CommandRequest, CommandResult, CommandRunner, SpawnedProcess, SpawnRequest } from '../../ports/command-runner.js';
import { runProcess, spawnProcess } from '../process/run-process.js';
import { diskUsage, giveTo } from './workspace-tree.js';

const run = promisify(execFile);
const MB = 1024 * 1024;

export interface SandboxLimits {
  cpuSeconds: number;
  memoryMb: number;
  processes: number;
  fileMb: number;
  workspaceMb: number;
}

/** Parts of /etc a command may need (dynamic linker, TLS roots, time zones, alternatives); nothing else of the host's. */
const ETC_ENTRIES = ['alternatives', 'ca-certificates', 'ca-certificates.conf', 'ssl', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'localtime', 'timezone', 'mime.types', 'protocols', 'services', 'nsswitch.conf', 'host.conf', 'gai.conf', 'inputrc', 'magic', 'magic.mime'];
const TOP_LEVEL_SYSTEM = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];
const FIRST_TASK_UID = 100_000;
const TASK_UID_SPAN = 900_000;
const TMP_BYTES = 256 * MB;
/** The environment of the probe's command: what it passes, and what run() gives every command. */
const PROBE_VARIABLES = ['PATH', 'HOME', 'TMPDIR', 'USER', 'LOGNAME'];

/**
 * Runs each command in a bubblewrap sandbox: private mount, PID, IPC, UTS and (by default)
 * network namespaces; the workspace read-write at /workspace; system directories read-only;
 * a private /tmp; nothing of KILN_DATA_DIR, other workspaces, the server's processes or its
 * environment. Started by root, the command then drops to a user id of its task's own with no
 * capabilities (bubblewrap's own --uid would leave it root on the host). Resource limits come from
 * prlimit; the workspace size is watched while the command runs.
 */
export class BubblewrapRunner implements CommandRunner {
  private readonly asRoot = process.getuid?.() === 0;

  constructor(
    private readonly limits: SandboxLimits,
    private readonly network: 'none' | 'host',
  ) {}

  /** Checks that a sandbox can start here; resolves with the reason when it cannot. */
  async probe(): Promise<string | null> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kiln-sandbox-probe-'));
    try {
      const result = await this.run({
        taskId: 'probe',
        // Inside the sandbox pid 1 is bubblewrap, started with the command's environment only. Run
        // by root it is unreadable to the command; run by another user it is readable, and must
        // hold nothing beyond what this probe passed (PATH, and what run() adds to every command).
        command: [
          "test -w /workspace || { echo 'the workspace is not writable inside the sandbox'; exit 1; }",
          `if tr '\\0' '\\n' 2>/dev/null </proc/1/environ | grep -qvE '^(${PROBE_VARIABLES.join('|')})='; then`,
          "  echo 'a variable the command was not given is visible inside the sandbox'; exit 1",
          'fi',
        ].join('\n'),
        workspace: dir,
        env: { PATH: '/usr/bin:/bin' },
        timeoutMs: 10_000,
        outputLimit: 4096,
        signal: new AbortController().signal,
      });
      if (result.exitCode === 0) return null;
      return result.output.trim() || `the test command exited with ${result.exitCode}`;
    } catch (error) {
      return (error as Error).message;
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  async run(request: CommandRequest): Promise<CommandResult> {
    const { uid, gid, startUsage } = await this.prepare(request);
    const workspaceLimit = this.limits.workspaceMb * MB;
    // No file may grow past what is left of the workspace: the kernel stops the write there
    // (RLIMIT_FSIZE), where the watchdog below only notices after the fact.
    const room = Math.max(workspaceLimit - startUsage, 0);
    const fileLimit = Math.min(this.limits.fileMb * MB, room);

    const outcome = await runProcess({
      argv: ['bwrap', ...this.bwrapArgs(request.workspace), '--', ...this.dropArgs(uid), ...this.limitArgs(fileLimit), '--', 'sh', '-c', request.command],
      cwd: '/',
      env: { ...request.env, HOME: '/workspace', TMPDIR: '/tmp', USER: 'kiln', LOGNAME: 'kiln' },
      timeoutMs: request.timeoutMs,
      outputLimit: request.outputLimit,
      signal: request.signal,
      extraInputs: [passwd(uid, gid), group(gid)],
      watchdog: {
        intervalMs: 500,
        check: async () => {
          const used = await diskUsage(request.workspace);
          return used > workspaceLimit && used > startUsage ? `workspace size limit of ${this.limits.workspaceMb} MB` : null;
        },
      },
    });
    const { rawExitCode, ...result } = outcome;
    if (result.stopped) return result;
    if (rawExitCode === 128 + 24) return { ...result, exitCode: null, stopped: { reason: 'limit', limit: `CPU time limit of ${this.limits.cpuSeconds} s` } };
    if (rawExitCode === 128 + 25) {
      const limit = fileLimit < this.limits.fileMb * MB ? `workspace size limit of ${this.limits.workspaceMb} MB` : `file size limit of ${this.limits.fileMb} MB`;
      return { ...result, exitCode: null, stopped: { reason: 'limit', limit } };
    }
    if (/Resource temporarily unavailable|fork: .*retry|Cannot fork|can't fork/i.test(result.output)) {
      return { ...result, likelyLimit: `process limit of ${this.limits.processes}` };
    }
    if (rawExitCode !== 0 && /Cannot allocate memory|MemoryError|std::bad_alloc|out of memory|JavaScript heap/i.test(result.output)) {
      return { ...result, likelyLimit: `memory limit of ${this.limits.memoryMb} MB` };
    }
    return result;
  }

  /**
   * The user and group the command runs as, and the workspace's size before it starts. Run by
   * root, every command has its task's own user, and the workspace is given to that user first
   * (in the same walk that measures it).
   */
  private async prepare(request: { taskId: string; workspace: string }): Promise<{ uid: number; gid: number; startUsage: number }> {
    if (!this.asRoot) return { uid: process.getuid!(), gid: process.getgid!(), startUsage: await diskUsage(request.workspace) };
    const uid = taskUid(request.taskId);
    const startUsage = await giveTo(request.workspace, uid, uid);
    // bubblewrap enters /workspace before the command becomes the task's user, without the
    // capability to bypass permissions: the folder must be searchable by others.
    await fs.chmod(request.workspace, 0o711);
    return { uid, gid: uid, startUsage };
  }

  /** Starts a long-lived program (a stdio MCP server) in the same sandbox and limits as a command, without a shell. */
  async spawn(request: SpawnRequest): Promise<SpawnedProcess> {
    const { uid, gid, startUsage } = await this.prepare(request);
    const workspaceLimit = this.limits.workspaceMb * MB;
    const fileLimit = Math.min(this.limits.fileMb * MB, Math.max(workspaceLimit - startUsage, 0));
    const cwd = path.posix.join('/workspace', request.cwd);
    return spawnProcess({
      argv: ['bwrap', ...this.bwrapArgs(request.workspace), '--', ...this.dropArgs(uid), ...this.limitArgs(fileLimit), '--', 'env', '-C', cwd, '--', ...request.argv],
      cwd: '/',
      env: { ...request.env, HOME: '/workspace', TMPDIR: '/tmp', USER: 'kiln', LOGNAME: 'kiln' },
      signal: request.signal,
      extraInputs: [passwd(uid, gid), group(gid)],
      watchdog: {
        intervalMs: 500,
        check: async () => {
          const used = await diskUsage(request.workspace);
          return used > workspaceLimit && used > startUsage ? `workspace size limit of ${this.limits.workspaceMb} MB` : null;
        },
      },
    });
  }

  private bwrapArgs(workspace: string): string[] {
    const args = this.asRoot
      ? ['--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', ...(this.network === 'none' ? ['--unshare-net'] : [])]
      : ['--unshare-all', ...(this.network === 'host' ? ['--share-net'] : [])];
    args.push('--die-with-parent', '--new-session', '--hostname', 'kiln-sandbox', '--cap-drop', 'ALL');
    // Root keeps just what setpriv needs to become the task's user and shed every capability.
    if (this.asRoot) args.push('--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--cap-add', 'CAP_SETPCAP');
    args.push('--ro-bind', '/usr', '/usr');
    for (const name of TOP_LEVEL_SYSTEM) {
      const host = `/${name}`;
      if (!existsSync(host)) continue;
      const stat = lstatSync(host);
      if (stat.isSymbolicLink()) args.push('--symlink', readlinkSync(host), host);
      else args.push('--ro-bind', host, host);
    }
    // Created first and open to all: bubblewrap would otherwise make /etc 0700 when run by root,
    // and the task's user could read neither passwd nor the CA certificates.
    args.push('--perms', '0755', '--dir', '/etc');
    for (const name of ETC_ENTRIES) if (existsSync(`/etc/${name}`)) args.push('--ro-bind', `/etc/${name}`, `/etc/${name}`);
    for (const name of safeReaddir('/etc').filter((n) => /^python3/.test(n))) args.push('--ro-bind', `/etc/${name}`, `/etc/${name}`);
    if (this.network === 'host' && existsSync('/etc/resolv.conf')) args.push('--ro-bind', '/etc/resolv.conf', '/etc/resolv.conf');
    args.push('--perms', '0644', '--ro-bind-data', '3', '/etc/passwd', '--perms', '0644', '--ro-bind-data', '4', '/etc/group');
    args.push('--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--size', String(TMP_BYTES), '--tmpfs', '/tmp');
    args.push('--bind', workspace, '/workspace', '--chdir', '/workspace');
    return args;
  }

  private dropArgs(uid: number): string[] {
    if (!this.asRoot) return [];
    return ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'];
  }

  private limitArgs(fileBytes: number): string[] {
    const l = this.limits;
    return ['prlimit', `--cpu=${l.cpuSeconds}:${l.cpuSeconds + 1}`, `--as=${l.memoryMb * MB}`, `--nproc=${l.processes}`, `--fsize=${fileBytes}`, '--core=0', '--nofile=1024'];
  }
}

/** A host user id of the task's own, so that tasks cannot touch each other's processes or files. */
export function taskUid(taskId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < taskId.length; i++) hash = Math.imul(hash ^ taskId.charCodeAt(i), 0x01000193) >>> 0;
  return FIRST_TASK_UID + (hash % TASK_UID_SPAN);
}

/** Checks that the programs the sandbox needs are installed. */
export async function sandboxProgramsMissing(asRoot: boolean): Promise<string | null> {
  const needed = ['bwrap', 'prlimit', ...(asRoot ? ['setpriv'] : [])];
  for (const program of needed) {
    try {
      await run('sh', ['-c', `command -v ${program}`]);
    } catch {
      return program === 'bwrap' ? 'bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)' : `${program} is not installed (util-linux)`;
    }
  }
  return null;
}

function passwd(uid: number, gid: number): string {
  return `root:x:0:0:root:/root:/usr/sbin/nologin\nkiln:x:${uid}:${gid}:Kiln task:/workspace:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`;
}

function group(gid: number): string {
  return `root:x:0:\nkiln:x:${gid}:\nnogroup:x:65534:\n`;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
