// Entry of the `onevmm` executable (bundled to dist/onevmm.mjs).
import { runCli } from './main.js';

// A reader that goes away (`| head`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => process.exit(error.code === 'EPIPE' ? 0 : 1));

process.exitCode = await runCli(process.argv.slice(2));
