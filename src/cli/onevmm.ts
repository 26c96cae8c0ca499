// Entry of the `onevmm` executable (bundled to dist/onevmm.mjs).
import { runCli } from './main.js';

process.exitCode = await runCli(process.argv.slice(2));
