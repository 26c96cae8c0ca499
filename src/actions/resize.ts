// resize: vCPUs (`setvcpus --live --hotpluggable`) and memory (balloon `setmem`, or a DIMM
// plugged/unplugged when MEMORY_RESIZE_MODE=HOTPLUG) of a running domain; resize_disk:
// `virsh blockresize`. Values come from the VM template (TEMPLATE/VCPU, MEMORY the new ones,
// TEMPLATE/RESIZE/VCPU, MEMORY the old ones), as oned sends them.
import { element, serializeXml } from '../domain/xml.js';
import { failAction, OnevmmError } from '../util/errors.js';
import { showName, showValue } from '../util/show-value.js';
import { virsh, type ActionContext } from './context.js';

export interface ResizeInput {
  readonly host: string;
  readonly domain: string;
  readonly vcpu?: number;
  readonly oldVcpu?: number;
  // MiB.
  readonly memory?: number;
  readonly oldMemory?: number;
  readonly memoryMode: 'BALLOONING' | 'HOTPLUG';
  // The NUMA node a DIMM goes to (HOTPLUG).
  readonly node?: number;
}

const IN_USE = /is in use|active block job/i;

// The <memory model='dimm'> of a hot-plugged memory block of `mib` MiB.
export function dimmXml(mib: number, node: number): string {
  return serializeXml(
    element('memory', { model: 'dimm' }, [
      element('target', null, [
        element('size', { unit: 'MiB' }, [String(mib)]),
        element('node', null, [String(node)]),
      ]),
    ]),
  );
}

export async function resize(
  ctx: ActionContext,
  input: ResizeInput,
): Promise<{ readonly changed: string[] }> {
  const what = `resize of ${showName(input.domain)} on ${input.host}`;
  const changed: string[] = [];
  if (input.memory !== undefined && input.memory !== input.oldMemory) {
    if (!Number.isInteger(input.memory) || input.memory < 1)
      failAction(`${what}: MEMORY must be a positive number of MiB`);
    if (input.memoryMode === 'HOTPLUG') {
      if (input.oldMemory === undefined)
        failAction(`${what}: MEMORY_RESIZE_MODE=HOTPLUG needs the old MEMORY (RESIZE/MEMORY)`);
      const delta = input.memory - input.oldMemory;
      const verb = delta > 0 ? 'attach-device' : 'detach-device';
      await ctx.runner.run(
        input.host,
        virsh(
          ctx,
          delta > 0 ? 'plug memory' : 'unplug memory',
          [verb, '--live', '--file', '/dev/stdin', '--', input.domain],
          {
            stdin: dimmXml(Math.abs(delta), input.node ?? 0),
          },
        ),
      );
    } else {
      await ctx.runner.run(
        input.host,
        virsh(ctx, 'set memory', ['setmem', '--live', '--', input.domain, `${input.memory * 1024}`]),
      );
    }
    changed.push(`memory ${input.oldMemory ?? '?'} → ${input.memory} MiB`);
  }
  if (input.vcpu !== undefined && input.vcpu !== input.oldVcpu) {
    if (!Number.isInteger(input.vcpu) || input.vcpu < 1)
      failAction(`${what}: VCPU must be a positive number`);
    try {
      await ctx.runner.run(
        input.host,
        virsh(ctx, 'set vCPUs', [
          'setvcpus',
          '--live',
          '--hotpluggable',
          '--',
          input.domain,
          String(input.vcpu),
        ]),
      );
    } catch (error) {
      throw new OnevmmError(
        'ACTION',
        `Failed to resize VCPU to ${input.vcpu} on ${input.domain}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    changed.push(`vcpu ${input.oldVcpu ?? '?'} → ${input.vcpu}`);
  }
  if (changed.length === 0) ctx.log('I', `${what}: VCPU and MEMORY are unchanged; nothing to do`);
  return { changed };
}

export async function resizeDisk(
  ctx: ActionContext,
  input: {
    readonly host: string;
    readonly domain: string;
    readonly target: string;
    readonly sizeMiB: number;
  },
): Promise<void> {
  const what = `resize of disk ${input.target} of ${showName(input.domain)} on ${input.host}`;
  if (!Number.isInteger(input.sizeMiB) || input.sizeMiB < 1)
    failAction(`${what}: the size must be a positive number of MB, got ${showValue(String(input.sizeMiB))}`);
  // libvirt shrinks a disk without a word (the data past the end is lost): only growing is allowed.
  const info = await ctx.runner.run(
    input.host,
    virsh(ctx, 'read disk size', ['domblkinfo', '--', input.domain, input.target]),
  );
  const capacity = Number(/^Capacity:\s+(\d+)/m.exec(info.stdout)?.[1] ?? Number.NaN);
  const wanted = input.sizeMiB * 1024 * 1024;
  if (!Number.isFinite(capacity)) failAction(`${what}: virsh domblkinfo printed no capacity`);
  if (wanted < capacity) {
    failAction(
      `${what}: ${input.sizeMiB} MiB is smaller than its ${Math.ceil(capacity / 1048576)} MiB; disks only grow (nothing was changed)`,
    );
  }
  if (wanted === capacity) {
    ctx.log('I', `${what}: it has ${input.sizeMiB} MiB already`);
    return;
  }
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.runner.run(
        input.host,
        virsh(ctx, 'resize disk', ['blockresize', '--', input.domain, input.target, `${input.sizeMiB}M`]),
      );
      return;
    } catch (error) {
      if (attempt >= 3 || !IN_USE.test(error instanceof Error ? error.message : '')) throw error;
      ctx.log('I', `${what}: the disk is busy; trying again in 5s`);
      await ctx.sleep(5000, ctx.signal);
    }
  }
}
