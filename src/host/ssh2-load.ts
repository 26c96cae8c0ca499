// ssh2, loaded the first time a connection is opened. From dist/ it is one CommonJS bundle
// (dist/ssh2.cjs: the client and the key parser, without ssh2's server, key generator and HTTP
// agents) compiled with V8's code cache that `npm run build` made beside it, so that an executable
// run by hand does not compile ssh2's 300 KB again on every run (~25 ms of its start-up, measured).
// Written by hand because nothing maintained does this for Node 20: module.enableCompileCache()
// arrived in Node 22, and v8-compile-cache hooks every require() of the process and writes a cache
// under the temporary directory at exit. A cache V8 rejects (another Node.js) costs only the compile.
// Elsewhere (tests and tools run from src/) it is ssh2 from node_modules.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import type * as Ssh2Module from 'ssh2';
import type { Client, ParsedKey } from 'ssh2';

export interface Ssh2 {
  readonly Client: new () => Client;
  readonly parseKey: (data: Buffer | string, passphrase?: Buffer | string) => ParsedKey | ParsedKey[] | Error;
}

const SSH2_BUNDLE = 'ssh2.cjs';
const SSH2_CODE_CACHE = 'ssh2.cjs.v8-cache';
// dist/ when running from the bundle.
const HERE = path.dirname(fileURLToPath(import.meta.url));

let loaded: Ssh2 | undefined;

export function loadSsh2(): Ssh2 {
  if (loaded) return loaded;
  const bundle = path.join(HERE, SSH2_BUNDLE);
  if (existsSync(bundle)) {
    loaded = runBundle(bundle, path.join(HERE, SSH2_CODE_CACHE)).exports as Ssh2;
  } else {
    const ssh2 = createRequire(import.meta.url)('ssh2') as typeof Ssh2Module;
    loaded = { Client: ssh2.Client, parseKey: ssh2.utils.parseKey };
  }
  return loaded;
}

// Makes the code cache beside the bundle (run by `npm run build` through dist/ssh2-cache.mjs, in
// dist/ itself: V8 keeps the file name it was made with for stack traces): ssh2 is loaded once and
// V8's cache taken afterwards, so that it holds what loading compiled.
export function writeSsh2CodeCache(): void {
  const { script } = runBundle(path.join(HERE, SSH2_BUNDLE));
  // Written aside and renamed: an executable starting now reads the old cache or the new one.
  const cache = path.join(HERE, SSH2_CODE_CACHE);
  writeFileSync(`${cache}.tmp`, script.createCachedData());
  renameSync(`${cache}.tmp`, cache);
}

// Runs a CommonJS file as require() would, with the code cache at `cacheFile` when there is one.
function runBundle(file: string, cacheFile?: string): { exports: unknown; script: Script } {
  let cachedData: Buffer | undefined;
  try {
    cachedData = cacheFile === undefined ? undefined : readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const source = readFileSync(file, 'utf8');
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
  });
  const module = { exports: {} as unknown };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
  return { exports: module.exports, script };
}
