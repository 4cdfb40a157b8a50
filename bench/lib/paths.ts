import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the code being run lives (this file is compiled to dist/bench/lib/paths.js): during a
 * bench run, a snapshot of the build (see run.ts), so that a rebuild of the checkout in the
 * middle of a run cannot change or remove the code under test.
 */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The Kiln checkout: results, peers and profiles go under its bench/ folder. */
export const REPO = process.env.KILN_BENCH_REPO ?? ROOT;
export const DIST_BENCH = path.join(ROOT, 'dist', 'bench');
export const BENCH_SRC = path.join(REPO, 'bench');
export const KILN_CLI = path.join(ROOT, 'bin', 'kiln.js');
export const LOAD_CLIENT = path.join(DIST_BENCH, 'load-client.js');
export const FLOOR_SERVER = path.join(DIST_BENCH, 'floor-server.js');
export const PEERS_DIR = path.join(BENCH_SRC, '.peers');
export const RESULTS_DIR = path.join(BENCH_SRC, 'results');
