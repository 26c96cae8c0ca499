// Bundle entry of bin/one_vmm_exec.
import { runDriver } from './main.js';

await runDriver(process.argv.slice(2));
