import v8 from 'node:v8';
import { createKiln } from '../app.js';
import { SERVE_FLAGS, loadConfig } from '../config.js';
import { createLogger, errorMessage } from '../logger.js';
import { parse } from './args.js';
import type { CliContext } from './context.js';

/** Serves the API until SIGINT or SIGTERM. */
export async function serve(args: string[], ctx: CliContext, usage: string): Promise<number> {
  const { values } = parse('serve', args, Object.fromEntries(SERVE_FLAGS.map((f) => [f.flag, { type: 'string' as const }])));
  if (values.help) {
    ctx.stdout.write(usage);
    return 0;
  }
  const config = loadConfig(ctx.env, values as Record<string, string | undefined>);
  // V8 sets the next full collection's threshold from this factor at each one; set before the server starts allocating.
  if (config.heapHeadroomPercent > 0) v8.setFlagsFromString(`--heap-growing-percent=${config.heapHeadroomPercent}`);
  const logger = createLogger(config.logLevel, (line) => ctx.stdout.write(line), config.logFormat);
  const kiln = await createKiln(config, logger);
  await kiln.start();
  if (!config.apiKey) {
    logger.info('KILN_API_KEY is not set: requests need a key made with `npx kiln keys create --user NAME`');
  }
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      logger.notice(`${signal} received, shutting down`);
      kiln.stop().then(resolve, (error) => {
        logger.error('shutdown failed', { error: errorMessage(error) });
        resolve();
      });
    };
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.once('SIGTERM', () => shutdown('SIGTERM'));
  });
  return 0;
}
