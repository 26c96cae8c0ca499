// Translates a template or VM XML file with the defaults file: shared by `onevmm translate` and deploy.
import type { TranslateResult } from '../translate/translate-vm.js';
import { translateVm } from '../translate/translate-vm.js';
import { OnevmmError, TranslateError } from '../util/errors.js';
import { vmDirectoryOf } from '../template/action-paths.js';
import { loadDefaults, loadVmDocument } from './load-vm.js';
import { resolveDefaultsPath } from './paths.js';

export async function translateFile(
  input: string,
  options: {
    readonly vmId?: string | number | undefined;
    readonly defaults?: string | undefined;
    readonly type?: 'kvm' | 'qemu';
    readonly deploymentTime?: number;
  },
): Promise<TranslateResult> {
  const vmId = options.vmId === undefined || options.vmId === '' ? undefined : Number(options.vmId);
  if (vmId !== undefined && (!Number.isInteger(vmId) || vmId < 0)) {
    throw new OnevmmError('USAGE', `the VM id must be a non-negative integer, got ${String(options.vmId)}`);
  }
  const defaults = await loadDefaults(resolveDefaultsPath(options.defaults));
  const data = await loadVmDocument(input, { vmId, defaults });
  const vm = data.vm;
  if (vm === undefined) throw new OnevmmError('PARSE', `${input}: the action data holds no <VM>`);
  const systemDir = vmDirectoryOf(data);
  try {
    return translateVm(vm, {
      defaults,
      ...(systemDir === undefined ? {} : { systemDir }),
      domainType: options.type ?? 'kvm',
      ...(options.deploymentTime === undefined ? {} : { deploymentTime: options.deploymentTime }),
    });
  } catch (error) {
    if (error instanceof TranslateError)
      throw new OnevmmError('TRANSLATE', `${input}: ${error.message}`, { cause: error });
    throw error;
  }
}
