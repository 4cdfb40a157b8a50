#!/usr/bin/env node
// The compiled CLI lives in dist/ (built from src/ by `npm run build`, which `npm install` runs
// in a checkout; a published package ships it built).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('kiln is not built: run `npm run build` in the Kiln checkout (after `npm install`), then start it again.\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
