import { ToolArgumentError, type ToolContext, type ToolOutcome } from './tool-types.js';
import { readToolFile, writeToolFile } from './workspace-files.js';

/** Largest file edit_file changes; bigger files are for commands. */
const EDIT_LIMIT = 10 * 1024 * 1024;

/**
 * `edit_file {path, old_text, new_text}`: replaces the one exact occurrence of `old_text`. No
 * occurrence, or more than one, changes nothing and says how many there are, so the model can
 * give more context instead of editing the wrong place.
 */
export async function editFile(ctx: ToolContext, args: { path: string; oldText: string; newText: string }, workspaceMb: number): Promise<ToolOutcome> {
  if (args.oldText === '') throw new ToolArgumentError('old_text must not be empty; use write_file to create a file.');
  const { bytes, size, path } = await readToolFile(ctx, args.path, EDIT_LIMIT + 1);
  if (size > EDIT_LIMIT) return { status: 'error', output: `${path} is larger than ${EDIT_LIMIT} bytes; edit it with a command instead.` };
  if (bytes.includes(0)) return { status: 'error', output: `${path} is a binary file; edit_file changes text files only.` };
  await ctx.files.read(path);
  const text = bytes.toString('utf8');
  const count = occurrences(text, args.oldText);
  if (count !== 1) {
    const what = count === 0 ? 'old_text was not found' : `old_text occurs ${count} times`;
    return {
      status: 'error',
      output: `${what} in ${path}; nothing was changed. old_text must match exactly one place (${count === 0 ? 'check spaces, indentation and line breaks' : 'include more of the surrounding lines'}).`,
    };
  }
  const at = text.indexOf(args.oldText);
  const updated = text.slice(0, at) + args.newText + text.slice(at + args.oldText.length);
  await writeToolFile(ctx, path, Buffer.from(updated), workspaceMb);
  const line = text.slice(0, at).split('\n').length;
  return { status: 'success', output: `Edited ${path} at line ${line} (${args.oldText.length} characters replaced by ${args.newText.length}).` };
}

/** Occurrences of `needle`, overlapping ones included ("aa" occurs twice in "aaa"). */
function occurrences(text: string, needle: string): number {
  let count = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) count++;
  return count;
}
