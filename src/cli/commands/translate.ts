// `onevmm translate <template|vm.xml>`: prints the libvirt domain XML for a VM.
import type { Argv } from 'yargs';
import { OnevmmError } from '../../util/errors.js';
import { translateFile } from '../../setup/translate-file.js';
import type { CliIo } from '../io.js';

export interface TranslateArgs {
  readonly input: string;
  readonly vmId: number | undefined;
  readonly defaults: string | undefined;
  readonly validate: boolean;
  readonly type: 'kvm' | 'qemu';
}

export function describeTranslate(yargs: Argv): Argv<TranslateArgs> {
  return yargs
    .positional('input', {
      type: 'string',
      demandOption: true,
      describe: "oned's <VM> XML, a VMM_DRIVER_ACTION_DATA document (raw or base64), or a template file",
    })
    .option('vm-id', { type: 'number', describe: 'VM id for a template file (default 0)' })
    .option('validate', {
      type: 'boolean',
      default: false,
      describe: "check the result against libvirt's domain RelaxNG schema",
    })
    .option('type', {
      choices: ['kvm', 'qemu'] as const,
      default: 'kvm' as const,
      describe: 'libvirt domain type (VM_MAD TYPE)',
    }) as unknown as Argv<TranslateArgs>;
}

// Runs the translation; all output goes through `io`.
export async function runTranslate(args: TranslateArgs, io: CliIo): Promise<number> {
  if (args.vmId !== undefined && (!Number.isInteger(args.vmId) || args.vmId < 0)) {
    throw new OnevmmError('USAGE', `--vm-id must be a non-negative integer, got ${args.vmId}`);
  }
  const result = await translateFile(args.input, {
    vmId: args.vmId,
    defaults: args.defaults,
    type: args.type,
  });
  if (args.validate) {
    const { createDomainValidator } = await import('../../schema/validate-domain.js');
    const validator = await createDomainValidator();
    try {
      const verdict = validator.validate(result.xml);
      if (!verdict.valid) {
        throw new OnevmmError(
          'VALIDATE',
          `${args.input}: libvirt's schema rejects the domain XML: ${verdict.errors.join('; ')}`,
        );
      }
    } finally {
      validator.dispose();
    }
  }
  for (const warning of result.warnings) io.stderr(`onevmm: warning: ${args.input}: ${warning}`);
  io.stdout(result.xml);
  return 0;
}
