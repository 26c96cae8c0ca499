// Golden translation cases: test/fixtures/translate/<case>.{tmpl,vm.xml} → <case>.domain.xml.
// Every golden document must also pass libvirt's RelaxNG schema and `virsh define --validate`
// on the test driver. UPDATE_GOLDEN=1 rewrites the golden files from the current output.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefaults, loadVm } from '../../src/setup/load-vm.js';
import { translateVm, type TranslateOptions } from '../../src/translate/translate-vm.js';
import { defineAllOnTestDriver, validateWithSchema, type DefineResult } from '../helpers/libvirt-oracle.js';

const dir = path.join(import.meta.dirname, '../fixtures/translate');
const shippedDefaults = path.join(import.meta.dirname, '../../etc/vmm_exec/vmm_exec_kvm.conf');
const update = process.env['UPDATE_GOLDEN'] === '1';

interface CaseOptions {
  vmId?: number;
  type?: 'kvm' | 'qemu';
  systemDatastoreDiskType?: string;
  deploymentTime?: number;
}

const inputs = readdirSync(dir)
  .filter((file) => file.endsWith('.tmpl') || file.endsWith('.vm.xml') || file.endsWith('.action.xml'))
  .sort();
const caseName = (file: string): string => file.replace(/\.(tmpl|vm\.xml|action\.xml)$/, '');

async function translateCase(
  file: string,
): Promise<{ xml?: string; error?: string; warnings: readonly string[] }> {
  const name = caseName(file);
  const defaultsFile = path.join(dir, `${name}.defaults.conf`);
  const optionsFile = path.join(dir, `${name}.options.json`);
  const caseOptions = existsSync(optionsFile)
    ? (JSON.parse(readFileSync(optionsFile, 'utf8')) as CaseOptions)
    : {};
  try {
    const defaults = await loadDefaults(existsSync(defaultsFile) ? defaultsFile : shippedDefaults);
    const vm = await loadVm(path.join(dir, file), { vmId: caseOptions.vmId ?? 42, defaults });
    const options: TranslateOptions = {
      defaults,
      domainType: caseOptions.type ?? 'kvm',
      systemDatastoreDiskType: caseOptions.systemDatastoreDiskType,
      deploymentTime: caseOptions.deploymentTime,
      generatePassword: (length) => 'p'.repeat(length),
    };
    const result = translateVm(vm, options);
    return { xml: result.xml, warnings: result.warnings };
  } catch (error) {
    return { error: (error as Error).message.replaceAll(dir + path.sep, ''), warnings: [] };
  }
}

describe('golden translation cases', () => {
  const defined = new Map<string, DefineResult>();

  beforeAll(() => {
    // One virsh process defines every golden domain (a fresh test driver for each).
    const goldens = inputs
      .map((file) => path.join(dir, `${caseName(file)}.domain.xml`))
      .filter((file) => existsSync(file));
    const results = defineAllOnTestDriver(goldens.map((file) => readFileSync(file, 'utf8')));
    goldens.forEach((file, i) => defined.set(file, results[i]!));
  });

  it('has at least 40 cases', () => {
    expect(inputs.length).toBeGreaterThanOrEqual(40);
  });

  it.each(inputs)('%s', async (file) => {
    const name = caseName(file);
    const goldenFile = path.join(dir, `${name}.domain.xml`);
    const errorFile = path.join(dir, `${name}.error.txt`);
    const warningsFile = path.join(dir, `${name}.warnings.txt`);
    const result = await translateCase(file);
    if (update) {
      if (result.xml !== undefined) writeFileSync(goldenFile, result.xml);
      else writeFileSync(errorFile, `${result.error ?? ''}\n`);
      if (result.warnings.length > 0) writeFileSync(warningsFile, `${result.warnings.join('\n')}\n`);
    }
    if (existsSync(errorFile)) {
      expect(result.error, 'translation was expected to fail').toBe(
        readFileSync(errorFile, 'utf8').trimEnd(),
      );
      return;
    }
    expect(result.error).toBeUndefined();
    expect(result.xml).toBe(readFileSync(goldenFile, 'utf8'));
    const expectedWarnings = existsSync(warningsFile)
      ? readFileSync(warningsFile, 'utf8').trimEnd().split('\n')
      : [];
    expect(result.warnings).toEqual(expectedWarnings);
    // Same input, same bytes.
    expect((await translateCase(file)).xml).toBe(result.xml);
    const verdict = await validateWithSchema(result.xml!);
    expect(verdict, 'libvirt RelaxNG schema').toEqual({ valid: true });
    const define = defined.get(goldenFile);
    if (!update)
      expect(define?.message, 'virsh define --validate on test:///default').toMatch(/defined from/);
  });
});
