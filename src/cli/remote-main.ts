// Bundle entry for remotes/vmm/kvm/<action>: the action is the executable's own name.
import { basename } from 'node:path';
import { runRemoteAction } from './remote.js';

process.exitCode = await runRemoteAction(basename(process.argv[1] ?? ''), process.argv.slice(2));
