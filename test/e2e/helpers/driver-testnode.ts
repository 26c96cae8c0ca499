// A libvirt test-driver node (LIBVIRT_URI=test:///<file>) with many running domains, for poll at
// scale without guests (the format of shared/testbed/gen-test-node.sh), and a FIFO that hands the
// node file out exactly once: every virsh connection reads the file anew, so a poll that succeeds
// on a one-shot FIFO made exactly one virsh call.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const hex2 = (n: number): string => (n & 255).toString(16).padStart(2, '0');

// The node XML: domains one-0 … one-(n-1), running, 1 vCPU, 512 MiB, one qcow2 disk, one NIC.
export function testNodeXml(n: number): string {
  const parts = [
    '<node>\n  <cpu>\n    <mhz>2000</mhz>\n    <model>x86_64</model>\n    <active>2</active>\n    <nodes>1</nodes>\n' +
      '    <sockets>1</sockets>\n    <cores>2</cores>\n    <threads>1</threads>\n  </cpu>\n  <memory>25165824</memory>\n',
  ];
  for (let i = 0; i < n; i++) {
    const mac = `02:00:${hex2(i >> 24)}:${hex2(i >> 16)}:${hex2(i >> 8)}:${hex2(i)}`;
    parts.push(
      `  <domain type='test'>\n    <name>one-${i}</name>\n    <uuid>7e57d000-0000-4000-8000-${String(i).padStart(12, '0')}</uuid>\n` +
        `    <memory unit='KiB'>524288</memory>\n    <currentMemory unit='KiB'>524288</currentMemory>\n    <vcpu>1</vcpu>\n` +
        `    <os><type arch='x86_64'>hvm</type></os>\n    <devices>\n` +
        `      <disk type='file' device='disk'>\n        <driver name='qemu' type='qcow2'/>\n` +
        `        <source file='/var/lib/one/datastores/0/${i}/disk.0'/>\n        <target dev='vda' bus='virtio'/>\n      </disk>\n` +
        `      <interface type='bridge'>\n        <mac address='${mac}'/>\n        <source bridge='br0'/>\n` +
        `        <target dev='one-${i}-0'/>\n        <model type='virtio'/>\n      </interface>\n    </devices>\n  </domain>\n`,
    );
  }
  parts.push('</node>\n');
  return parts.join('');
}

export interface TestNode {
  readonly dir: string;
  // The node file and a FIFO beside it; LIBVIRT_URI values for both.
  readonly file: string;
  readonly fifo: string;
  readonly uri: string;
  readonly fifoUri: string;
  remove(): void;
}

// Writes the node file and a FIFO into dir (a directory every testbed host sees, e.g. $TB_DIR/shared).
export function createTestNode(dir: string, n: number): TestNode {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `node-${n}.xml`);
  const fifo = path.join(dir, `node-${n}.fifo`);
  writeFileSync(file, testNodeXml(n));
  rmSync(fifo, { force: true });
  const made = spawnSync('mkfifo', ['-m', '0644', fifo], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`mkfifo ${fifo}: ${made.stderr}`);
  return {
    dir,
    file,
    fifo,
    uri: `test://${file}`,
    fifoUri: `test://${fifo}`,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Feed {
  // Resolves with cat's exit code once a reader has taken the whole file (null: killed).
  readonly done: Promise<number | null>;
  // True while some process has the FIFO open for reading and waits for a writer.
  readerWaiting(): boolean;
  stop(): void;
}

// Offers the node file once on the FIFO: the first reader gets it; a second reader would wait.
export function feedOnce(node: TestNode): Feed {
  const child = spawn('sh', ['-c', 'exec cat -- "$1" > "$2"', 'sh', node.file, node.fifo], {
    stdio: 'ignore',
  });
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    done,
    readerWaiting() {
      try {
        closeSync(openSync(node.fifo, constants.O_WRONLY | constants.O_NONBLOCK));
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENXIO') return false;
        throw error;
      }
    },
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
