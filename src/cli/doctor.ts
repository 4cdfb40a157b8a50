import { ConfigError, loadConfig, type Config } from '../config.js';
import { parse, str } from './args.js';
import type { CliContext } from './context.js';
import { help } from './run.js';

export const DOCTOR_USAGE = `  kiln doctor [--data-dir DIR]      check this machine and these settings: sandbox, database, blob store,
                                    model, port; says what to fix (exit 1 when something is wrong)`;

const DOCTOR_HELP = `Usage:\n${DOCTOR_USAGE}\n\nSettings are read like \`kiln serve\` (environment; --data-dir wins).\n`;

/** `kiln doctor`: whether Kiln can run here with these settings, and what to fix. */
export async function doctor(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parse('doctor', args, { 'data-dir': { type: 'string' } });
  if (values.help) return help(ctx, DOCTOR_HELP);
  let config: Config;
  try {
    config = loadConfig(ctx.env, { 'data-dir': str(values['data-dir']) });
  } catch (error) {
    // A bad setting is a finding, not a usage mistake.
    if (!(error instanceof ConfigError)) throw error;
    ctx.stdout.write(`FAIL  settings    ${error.message}\n`);
    return 1;
  }
  const { diagnose } = await import('../ops/doctor.js');
  const findings = await diagnose(config);
  for (const f of findings) {
    ctx.stdout.write(`${f.level.toUpperCase().padEnd(5)} ${f.check.padEnd(11)} ${f.detail}\n`);
    if (f.fix && f.level !== 'ok') ctx.stdout.write(`${''.padEnd(18)}fix: ${f.fix}\n`);
  }
  const failed = findings.filter((f) => f.level === 'fail').length;
  ctx.stdout.write(failed === 0 ? 'Kiln can run here.\n' : `${failed} problem(s) to fix before Kiln can run here.\n`);
  return failed === 0 ? 0 : 1;
}
