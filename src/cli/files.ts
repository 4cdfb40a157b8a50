import path from 'node:path';
import type { ArtifactFile, Kiln } from '@kiln/sdk';
import { downloadToFile, type Progress } from '@kiln/sdk/node';
import { parse, str, UsageError } from './args.js';
import type { CliContext } from './context.js';
import { bytes, type Output } from './output.js';
import { help } from './run.js';

export const FILES_HELP = `Usage: kiln files ID [--json]

Lists the files of a task's workspace, each at its latest version.
`;
export const DOWNLOAD_HELP = `Usage: kiln download ID PATH... [-o DIR] [--json]
       kiln download ID --all [-o DIR] [--json]

Downloads files of a task's workspace into DIR (the current folder by default): each PATH as
its file name, or with --all every file at its workspace path. Each download is checked
against its SHA-256 and appears only when complete.
`;

export async function files(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parse('files', args, {}, true);
  if (values.help) return help(ctx, FILES_HELP);
  if (positionals.length !== 1) throw new UsageError('usage: kiln files ID');
  const out = ctx.output(Boolean(values.json));
  const list = await ctx.client().artifacts.list(positionals[0]!);
  if (out.json) {
    out.data(list);
    return 0;
  }
  if (list.length === 0) {
    out.note('No files yet.');
    return 0;
  }
  out.table(
    ['PATH', 'SIZE', 'VERSION', 'MODIFIED'],
    list.map((f) => [f.path, bytes(f.size), String(f.version), f.modifiedAt.replace('T', ' ').slice(0, 19)]),
  );
  return 0;
}

export async function download(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parse('download', args, { all: { type: 'boolean' }, output: { type: 'string', short: 'o' } }, true);
  if (values.help) return help(ctx, DOWNLOAD_HELP);
  const [id, ...paths] = positionals;
  if (!id || (paths.length === 0) === !values.all) throw new UsageError('usage: kiln download ID PATH... [-o DIR], or kiln download ID --all [-o DIR]');
  const dir = str(values.output) ?? '.';
  const out = ctx.output(Boolean(values.json));
  const kiln = ctx.client();
  const wanted: { path: string; target: string }[] = values.all
    ? (await kiln.artifacts.list(id)).map((f: ArtifactFile) => ({ path: f.path, target: path.join(dir, ...f.path.split('/')) }))
    : paths.map((p) => ({ path: p, target: path.join(dir, path.posix.basename(p)) }));
  const results = [];
  for (const file of wanted) {
    const result = await fetchOne(kiln, id, file.path, file.target, out, ctx);
    results.push({ path: file.path, file: result.path, size: result.size, sha256: result.sha256 });
    if (!out.json) out.note(`${file.path} → ${result.path} (${bytes(result.size)})`);
  }
  if (out.json) out.data(results);
  return 0;
}

const BAR_FROM = 1024 * 1024;

async function fetchOne(kiln: Kiln, taskId: string, filePath: string, target: string, out: Output, ctx: CliContext) {
  const bar = ctx.stderr.isTTY && !out.json;
  let shown = -1;
  const onProgress = ({ received, total }: Progress) => {
    if (!bar || !total || total < BAR_FROM) return;
    const percent = Math.floor((received / total) * 100);
    if (percent === shown) return;
    shown = percent;
    const width = 30;
    const filled = Math.round((percent / 100) * width);
    ctx.stderr.write(`\r${filePath} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(percent).padStart(3)}% ${bytes(received)} / ${bytes(total)}`);
  };
  try {
    return await downloadToFile(kiln, taskId, filePath, target, { onProgress });
  } finally {
    if (shown >= 0) ctx.stderr.write('\n');
  }
}
