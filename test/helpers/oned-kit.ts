// Where the OpenNebula front-end test kit is (shared/oned beside this checkout, or ONEVMM_ONED_KIT),
// and files read from its tarball. The kit is not the project's: tests read it, nothing copies it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

export interface OnedKit {
  readonly dir: string;
  readonly tarball: string;
}

// The kit, or why there is none (one line, for the message a suite prints instead of running).
export function findOnedKit(env: NodeJS.ProcessEnv = process.env): OnedKit | { readonly missing: string } {
  const dir = env['ONEVMM_ONED_KIT'] ?? resolve(ROOT, '../shared/oned');
  const tarball = join(dir, 'one-fe.tar.xz');
  if (!existsSync(join(dir, 'oned.sh')) || !existsSync(tarball))
    return { missing: `no OpenNebula front-end kit at ${dir} (oned.sh, one-fe.tar.xz); set ONEVMM_ONED_KIT` };
  return { dir, tarball };
}

// Reads files of the kit's install tree (paths relative to ONE_LOCATION) straight from its tarball.
export function readKitFiles(kit: OnedKit, paths: readonly string[]): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'onevmm-kit-'));
  try {
    execFileSync('tar', ['-xJf', kit.tarball, '-C', dir, ...paths.map((p) => `./${p}`)], { stdio: 'pipe' });
    return Object.fromEntries(paths.map((p) => [p, readFileSync(join(dir, p), 'utf8')]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
