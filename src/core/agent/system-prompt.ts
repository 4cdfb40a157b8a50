/** Kiln's own instructions to the agent, before the task's own system prompt. */
const KILN_PROMPT = `You are an agent working on a task inside a private workspace (a folder on disk).
- uploads/ holds the files the user sent with their messages; read them with read_file.
- downloads/ is where deliverables go: write files the user should receive there.
Tools: list_directory, read_file, write_file and run_command (sh -c, with the workspace as the
working directory). Paths are relative to the workspace; you cannot reach outside it.
Work step by step, check your results, and end with a short answer that says what you did and
where any files are.`;

export function systemPrompt(parts: { task: string | null; agent?: string | null }): string {
  return [KILN_PROMPT, parts.agent, parts.task].filter((p): p is string => Boolean(p && p.trim())).join('\n\n');
}
