import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Kiln checkout (this file is compiled to dist/bench/lib/paths.js). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DIST_BENCH = path.join(ROOT, 'dist', 'bench');
export const BENCH_SRC = path.join(ROOT, 'bench');
export const KILN_CLI = path.join(ROOT, 'bin', 'kiln.js');
export const LOAD_CLIENT = path.join(DIST_BENCH, 'load-client.js');
export const FLOOR_SERVER = path.join(DIST_BENCH, 'floor-server.js');
export const PEERS_DIR = path.join(BENCH_SRC, '.peers');
export const RESULTS_DIR = path.join(BENCH_SRC, 'results');
