import { KilnError } from '@kiln/sdk';
import { ConfigError, ENV_VARIABLES, SERVE_FLAGS } from './config.js';
import { agents } from './cli/agents.js';
import { UsageError } from './cli/args.js';
import { backup, BACKUP_USAGE, restore, RESTORE_USAGE } from './cli/backup.js';
import { NotConfigured } from './cli/client-settings.js';
import { CliContext } from './cli/context.js';
import { doctor, DOCTOR_USAGE } from './cli/doctor.js';
import { download, files } from './cli/files.js';
import { keys } from './cli/keys.js';
import { login } from './cli/login.js';
import { run, watch } from './cli/run.js';
import { approve, cancel, send, show, tasks } from './cli/tasks.js';
import { errorMessage } from './logger.js';
import { KILN_VERSION } from './version.js';

const USAGE = `kiln: a self-hosted server that runs AI-agent tasks behind an HTTP API, and its client

Server:
  kiln serve [options]              serve the API (default command)
  kiln keys create --user NAME [--name LABEL] [--admin]
                                    create an API key for a user in the database (printed once,
                                    as the last line); works without a running server; an --admin
                                    key may also manage every user's keys over the API
${BACKUP_USAGE}
${RESTORE_USAGE}
${DOCTOR_USAGE}

Client (uses KILN_URL and KILN_API_KEY, or what \`kiln login\` saved):
  kiln login                        ask for the server's URL and a key, check and save them
  kiln run "MESSAGE" [--file PATH...] [--agent ID] [--system TEXT] [--no-auto]
                                    create a task and follow it live, answering approvals
  kiln tasks [--status S] [--limit N]
                                    list your tasks
  kiln show ID                      a task, its answer and conversation
  kiln watch ID                     follow a task again from where it is
  kiln send ID "MESSAGE" [--file PATH...]
                                    send a follow-up and follow it
  kiln approve ID CALL once|always|cancel
                                    decide a tool call that waits for approval
  kiln cancel ID                    cancel a task's current turn
  kiln files ID                     list a task's files
  kiln download ID PATH...|--all [-o DIR]
                                    download files of a task
  kiln agents                       list your agents
  kiln keys list|create|revoke      manage API keys through the API

Every command takes --help, and --json for machine-readable output (one JSON document, or
JSON lines for the live commands). Colours only on a terminal, and not with NO_COLOR set.
  kiln --version                    the version
  kiln --help                       this text

Options of kiln serve (each overrides its environment variable):
${SERVE_FLAGS.map((f) => `  --${f.flag.padEnd(16)} ${f.env.padEnd(26)} ${f.help}`).join('\n')}

Environment variables of the server:
${ENV_VARIABLES.map((v) => `  ${v.env.padEnd(26)} ${v.help}`).join('\n')}

Environment variables of the client:
  KILN_URL                   the server, e.g. http://127.0.0.1:8080
  KILN_API_KEY               the API key (for the server: a key accepted for user default)
  XDG_CONFIG_HOME            where \`kiln login\` saves (kiln/config.json; else ~/.config)
  NO_COLOR                   no colours when set
`;

type Command = (args: string[], ctx: CliContext) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  // Loaded on demand: the server's modules are heavy, and the client commands do not need them.
  serve: async (args, ctx) => (await import('./cli/serve.js')).serve(args, ctx, USAGE),
  keys,
  login,
  run,
  watch,
  tasks,
  show,
  send,
  approve,
  cancel,
  files,
  download,
  agents,
  backup,
  restore,
  doctor,
};

/** Runs the CLI; resolves with the process exit code (serve resolves only when stopped). */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  const ctx = new CliContext(env);
  try {
    if (command === '--help' || command === '-h' || command === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    if (command === '--version' || command === '-v') {
      process.stdout.write(`kiln ${KILN_VERSION}\n`);
      return 0;
    }
    const handler = COMMANDS[command];
    if (!handler) {
      process.stderr.write(`kiln: unknown command "${command}". Run \`kiln --help\` for the list.\n`);
      return 2;
    }
    return await handler(rest, ctx);
  } catch (error) {
    process.stderr.write(`kiln: ${explain(error, env)}\n`);
    return error instanceof ConfigError || error instanceof UsageError || error instanceof NotConfigured ? 2 : 1;
  }
}

/** What went wrong, and what to do next. */
function explain(error: unknown, env: NodeJS.ProcessEnv): string {
  if (!(error instanceof KilnError)) return errorMessage(error);
  const where = env.KILN_URL ? 'KILN_URL' : 'the URL saved by `kiln login`';
  switch (true) {
    case error.code === 'CONNECTION_FAILED':
      return `${error.message}. Is the server running? Check ${where}, or run \`kiln login\`.`;
    case error.status === 401:
      return `the server refused the API key (${error.code}: ${error.message}). Check KILN_API_KEY, or run \`kiln login\` with a valid key.`;
    case error.status === 404:
      return `${error.message} (${error.code}). \`kiln tasks\` lists your tasks.`;
    case error.status >= 500:
      return `the server failed: ${error.message}${error.requestId ? '' : ` (${error.code})`}`;
    default:
      return `${error.message} (${error.code})`;
  }
}
