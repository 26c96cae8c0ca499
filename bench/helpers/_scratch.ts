import { readFileSync } from 'node:fs';
import { Client } from 'ssh2';
import { median } from './process.js';
const key = readFileSync('/tmp/onevmm-tb/id_ed25519');
const exec = (c: Client, cmd: string, eof: boolean) => new Promise<void>((res, rej) => c.exec(cmd, (e, ch) => {
  if (e) return rej(e);
  ch.on('data', () => undefined); ch.stderr.on('data', () => undefined); ch.on('close', () => res());
  if (eof) ch.end();
}));
const connect = (nodelay: boolean) => new Promise<Client>((res, rej) => {
  const c = new Client();
  c.on('ready', () => { if (nodelay) c.setNoDelay(true); res(c); }).on('error', rej)
   .connect({ host: '10.77.0.12', username: 'root', privateKey: key, hostVerifier: () => true });
});
const a = await connect(false), b = await connect(true);
const cmd = 'LC_ALL=C timeout 60s virsh --connect qemu:///system domstate one-9';
for (const eof of [true, false]) {
  const ta: number[] = [], tb: number[] = [], tt: number[] = [], tn: number[] = [];
  for (let i = 0; i < 12; i++) {
    let s = performance.now(); await exec(a, cmd, eof); ta.push(performance.now() - s);
    s = performance.now(); await exec(b, cmd, eof); tb.push(performance.now() - s);
    s = performance.now(); await exec(a, 'true', eof); tt.push(performance.now() - s);
    s = performance.now(); await exec(b, 'true', eof); tn.push(performance.now() - s);
  }
  console.log(`stdin EOF ${eof}: virsh: Nagle ${median(ta).toFixed(0)} ms, noDelay ${median(tb).toFixed(0)} ms; true: Nagle ${median(tt).toFixed(0)} ms, noDelay ${median(tn).toFixed(0)} ms`);
}
a.end(); b.end();
