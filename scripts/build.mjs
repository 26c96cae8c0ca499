#!/usr/bin/env node
// Builds dist/: one ESM bundle per entry point with shared chunks, so an executable loads only
// the modules its command needs. Run by `npm ci`/`npm install` through the `prepare` script.
import { build } from 'esbuild';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Built beside dist/ and swapped in at the end, so that a running executable never sees a half-built
// or emptied dist/.
const staging = join(root, 'dist.new');
rmSync(staging, { recursive: true, force: true });

// ssh2 and others still use require/__dirname: give ESM chunks what CommonJS code expects.
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
  },
  outdir: 'dist.new',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  banner: { js: banner },
  // Only free uses are replaced; modules that declare their own __dirname keep it.
  define: { __dirname: '__onevmmDirname', __filename: '__onevmmFilename' },
  external: ['cpu-features', '*.node', 'libxml2-wasm'],
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
