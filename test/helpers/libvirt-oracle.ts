// libvirt as a test oracle: its RelaxNG schema in-process, and `virsh define --validate` on the test driver.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createDomainValidator,
  type DomainValidation,
  type DomainValidator,
} from '../../src/schema/validate-domain.js';

export interface DefineResult {
  ok: boolean;
  message: string;
}

const TEST_URI = 'test:///default';
const DEFINE_FAILED = 'error: Failed to define domain from ';

let shared: Promise<DomainValidator> | undefined;

// Validates against domain.rng with one validator shared by the whole test process.
export async function validateWithSchema(xml: string): Promise<DomainValidation> {
  shared ??= createDomainValidator();
  return (await shared).validate(xml);
}

// Defines one document on a fresh test driver; `message` is what virsh printed.
export function defineOnTestDriver(xml: string): DefineResult {
  // A temp file, not /dev/stdin: spawnSync's stdin is a socket, which open() refuses (ENXIO).
  return withTempFiles([xml], ([file]) => {
    const result = runVirsh(['define', '--validate', file!]);
    return { ok: result.status === 0, message: `${result.stdout}${result.stderr}`.trim() };
  });
}

// Defines many documents in one virsh process, each on a fresh test driver.
export function defineAllOnTestDriver(xmls: readonly string[]): DefineResult[] {
  if (xmls.length === 0) return [];
  return withTempFiles(xmls, (files) => {
    // `connect` drops the test driver's state, so names may repeat across documents. In a
    // `;` batch virsh exits with the last command's status, so results come from the text.
    const script = files.map((file) => `connect ${TEST_URI}; define --validate ${file}`);
    const result = runVirsh([script.join('; ')]);
    return files.map((file) => pickResult(file, result.stdout, result.stderr));
  });
}

function withTempFiles<T>(xmls: readonly string[], use: (files: string[]) => T): T {
  const dir = mkdtempSync(path.join(tmpdir(), 'onevmm-oracle-'));
  try {
    // virsh splits its command line on blanks and quotes; keep paths free of them.
    if (!/^[\w./-]+$/.test(dir)) throw new Error(`temp dir ${dir} would need quoting for virsh`);
    const files = xmls.map((xml, i) => {
      const file = path.join(dir, `doc-${i}.xml`);
      writeFileSync(file, xml);
      return file;
    });
    return use(files);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runVirsh(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('virsh', ['-c', TEST_URI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function pickResult(file: string, stdout: string, stderr: string): DefineResult {
  const defined = stdout.split('\n').find((line) => line.endsWith(` defined from ${file}`));
  if (defined !== undefined) return { ok: true, message: defined.trim() };
  const start = stderr.indexOf(`${DEFINE_FAILED}${file}\n`);
  if (start < 0) return { ok: false, message: `virsh said nothing about ${file}: ${stderr.trim()}` };
  const end = stderr.indexOf(DEFINE_FAILED, start + DEFINE_FAILED.length);
  return { ok: false, message: stderr.slice(start, end < 0 ? undefined : end).trim() };
}
