// Bundle entry for remotes/vmm/kvm/<action>: the action is the executable's own name.
import { basename } from 'node:path';
import { runRemoteAction } from './remote.js';

// A reader that goes away (`| head`) is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => process.exit(error.code === 'EPIPE' ? 0 : 1));

process.exitCode = await runRemoteAction(basename(process.argv[1] ?? ''), process.argv.slice(2));
