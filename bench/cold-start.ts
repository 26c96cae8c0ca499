// cold-start: one action executable run by hand (remotes/vmm/kvm/poll against a testbed host),
// measured in the same run as `node -e 0` and `ssh <host> true` (OpenSSH, a fresh connection).
// Target: poll ≤ node -e 0 + one SSH handshake + 60 ms.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ensureTestbed } from '../test/e2e/helpers/testbed.js';
import { recordResult } from './results-file.js';

const ROUNDS = 15;

function time(command: string, args: readonly string[], env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

export async function runColdStartBench(): Promise<void> {
  const testbed = await ensureTestbed(1);
  const host = testbed.hosts[0];
  if (host === undefined) throw new Error('no testbed host');
  const root = path.join(import.meta.dirname, '..');
  const env = { ...process.env, ONEVMM_KVMRC: testbed.kvmrcPath };
  const sshConfig = path.join(testbed.dir, 'ssh_config');
  const samples = { node: [] as number[], ssh: [] as number[], poll: [] as number[] };
  // Interleaved rounds, so that load on the machine hits all three alike.
  for (let round = 0; round < ROUNDS + 2; round++) {
    const node = time(process.execPath, ['-e', '0'], env);
    const ssh = time('ssh', ['-F', sshConfig, host.name, 'true'], env);
    const poll = time(path.join(root, 'remotes/vmm/kvm/poll'), ['-t', host.address], env);
    if (round < 2) continue; // warm the page cache first
    samples.node.push(node);
    samples.ssh.push(ssh);
    samples.poll.push(poll);
  }
  const [node, ssh, poll] = [median(samples.node), median(samples.ssh), median(samples.poll)];
  const overhead = poll - node - ssh;
  const met = overhead <= 60;
  console.log(`cold-start, median of ${ROUNDS} interleaved runs:`);
  console.log(`  node -e 0                          ${node.toFixed(1).padStart(7)} ms`);
  console.log(`  ssh ${host.name} true (OpenSSH)        ${ssh.toFixed(1).padStart(7)} ms`);
  console.log(`  remotes/vmm/kvm/poll -t ${host.address} ${poll.toFixed(1).padStart(7)} ms`);
  console.log(
    `  poll − node − ssh                  ${overhead.toFixed(1).padStart(7)} ms  (target ≤ 60: ${met ? 'met' : 'NOT met'})`,
  );
  recordResult('cold-start', {
    description:
      'remotes/vmm/kvm/poll -t <testbed host> by hand, against node -e 0 and a fresh OpenSSH `ssh host true`',
    figures: {
      nodeMs: Number(node.toFixed(1)),
      sshMs: Number(ssh.toFixed(1)),
      pollMs: Number(poll.toFixed(1)),
      overheadMs: Number(overhead.toFixed(1)),
      ratioToNodePlusSsh: Number((poll / (node + ssh)).toFixed(2)),
      rounds: ROUNDS,
    },
    target: 'poll <= node -e 0 + ssh host true + 60 ms',
    met,
  });
}
