#!/usr/bin/env node
// Builds dist/: one ESM file per entry point, each with all it may load (no shared chunks), and
// ssh2 as a CommonJS file with V8's code cache. Run by `npm ci`/`npm install` through `prepare`.
// Why one file: Node 20 pays ~1 ms per ES module it loads (resolve, read, link) and cannot cache
// their compiled code; an action executable run by hand loaded ~25 chunks and started 10-30 ms
// later than from one file, though it compiles more (measured side by side, `poll -t`).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Built beside dist/ and swapped in at the end, so that a running executable never sees a half-built
// or emptied dist/.
const staging = join(root, 'dist.new');
rmSync(staging, { recursive: true, force: true });

// Bundled CommonJS code still uses require/__dirname: give the ESM files what it expects.
const banner = [
  "import { createRequire as __onevmmRequire } from 'node:module';",
  "import { fileURLToPath as __onevmmPath } from 'node:url';",
  "import { dirname as __onevmmDir } from 'node:path';",
  'const require = __onevmmRequire(import.meta.url);',
  'const __onevmmFilename = __onevmmPath(import.meta.url);',
  'const __onevmmDirname = __onevmmDir(__onevmmFilename);',
].join('\n');

await build({
  absWorkingDir: root,
  entryPoints: {
    onevmm: 'src/cli/onevmm.ts',
    remote: 'src/cli/remote-main.ts',
    one_vmm_exec: 'src/driver/one-vmm-exec.ts',
    'ssh2-cache': 'src/host/ssh2-cache-main.ts',
  },
  outdir: 'dist.new',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  banner: { js: banner },
  // Only free uses are replaced; modules that declare their own __dirname keep it.
  define: { __dirname: '__onevmmDirname', __filename: '__onevmmFilename' },
  // ssh2 is loaded from dist/ssh2.cjs (below), or from node_modules when that is missing.
  external: ['cpu-features', '*.node', 'libxml2-wasm', 'ssh2'],
  legalComments: 'none',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
});

// ssh2 as one CommonJS file with V8's code cache beside it (src/host/ssh2-load.ts). The cache is
// made by this Node.js, the one `npm ci` ran with (at the end); another one rejects it and compiles
// as before.
await build({
  absWorkingDir: root,
  entryPoints: ['scripts/ssh2-bundle.cjs'],
  outfile: 'dist.new/ssh2.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  external: ['cpu-features', '*.node'],
  legalComments: 'none',
  minify: true,
  keepNames: true,
  logLevel: 'warning',
});

const old = join(root, 'dist.old');
rmSync(old, { recursive: true, force: true });
if (existsSync(join(root, 'dist'))) renameSync(join(root, 'dist'), old);
renameSync(staging, join(root, 'dist'));
rmSync(old, { recursive: true, force: true });
// V8's code cache for dist/ssh2.cjs, made where it is used (see src/host/ssh2-load.ts).
execFileSync(process.execPath, [join(root, 'dist', 'ssh2-cache.mjs')], { stdio: 'inherit' });
