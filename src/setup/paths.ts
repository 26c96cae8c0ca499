// Where the shipped files live: found by walking up from this module to onevmm's package.json,
// which works both from src/ (tests) and from the bundle in dist/.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

// The directory holding onevmm's package.json.
export function findPackageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (
      existsSync(manifest) &&
      (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'onevmm'
    ) {
      cachedRoot = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the onevmm package root');
    dir = parent;
  }
}

// The defaults file: --defaults, else ONEVMM_DEFAULTS, else the shipped etc/vmm_exec/vmm_exec_kvm.conf.
export function resolveDefaultsPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env['ONEVMM_DEFAULTS'] ?? join(findPackageRoot(), 'etc/vmm_exec/vmm_exec_kvm.conf');
}
