// attach_disk / detach_disk / attach_nic / detach_nic on a running domain. Each one reads the
// domain first (a target or MAC in use is refused, a device already gone is a success), changes
// it with `--live`, and reads it back: a detach is done only when libvirt no longer lists the
// device (the guest has to release it, which takes a moment).
import { failAction } from '../util/errors.js';
import { showName, showValue } from '../util/show-value.js';
import { virsh, type ActionContext } from './context.js';

export interface DeviceInput {
  readonly host: string;
  readonly domain: string;
}

// How long a detached device may take to leave the domain (the guest acknowledges the unplug).
export const DETACH_WAIT_SECONDS = 20;
const DETACH_POLL_MS = 500;

// Disk targets and their sources from `virsh domblklist` ("-" for an empty CD-ROM).
export function parseBlockList(text: string): Map<string, string> {
  const disks = new Map<string, string>();
  for (const line of text.split('\n').slice(2)) {
    const match = /^\s*(\S+)\s+(.*?)\s*$/.exec(line);
    if (match?.[1] !== undefined) disks.set(match[1], match[2] ?? '');
  }
  return disks;
}

// Interfaces from `virsh domiflist`: MAC (lower case) → type.
export function parseInterfaceList(text: string): Map<string, string> {
  const nics = new Map<string, string>();
  for (const line of text.split('\n').slice(2)) {
    const words = line.trim().split(/\s+/);
    const mac = words.at(-1) ?? '';
    if (/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) nics.set(mac.toLowerCase(), words[1] ?? '');
  }
  return nics;
}

export async function readBlockList(
  ctx: ActionContext,
  host: string,
  domain: string,
): Promise<Map<string, string>> {
  return parseBlockList(
    (await ctx.runner.run(host, virsh(ctx, 'list disks', ['domblklist', '--', domain]))).stdout,
  );
}

async function readInterfaces(
  ctx: ActionContext,
  host: string,
  domain: string,
): Promise<Map<string, string>> {
  return parseInterfaceList(
    (await ctx.runner.run(host, virsh(ctx, 'list interfaces', ['domiflist', '--', domain]))).stdout,
  );
}

async function attachDevice(
  ctx: ActionContext,
  host: string,
  domain: string,
  step: string,
  xml: string,
): Promise<void> {
  await ctx.runner.run(
    host,
    virsh(ctx, step, ['attach-device', '--live', '--file', '/dev/stdin', '--', domain], { stdin: xml }),
  );
}

// Polls until `gone()` is true or DETACH_WAIT_SECONDS pass.
async function waitUntilGone(ctx: ActionContext, gone: () => Promise<boolean>): Promise<boolean> {
  const deadline = ctx.now() + DETACH_WAIT_SECONDS * 1000;
  for (;;) {
    if (await gone()) return true;
    if (ctx.now() >= deadline) return false;
    await ctx.sleep(DETACH_POLL_MS, ctx.signal);
  }
}

export async function attachDisk(
  ctx: ActionContext,
  input: DeviceInput & { readonly target: string; readonly diskXml: string },
): Promise<void> {
  const what = `attach of disk ${input.target} to ${showName(input.domain)} on ${input.host}`;
  const disks = await readBlockList(ctx, input.host, input.domain);
  if (disks.has(input.target))
    failAction(
      `${what}: the target ${input.target} is already in use (by ${showValue(disks.get(input.target) ?? '')}); nothing was changed`,
    );
  await attachDevice(ctx, input.host, input.domain, 'attach disk', input.diskXml);
  if (!(await readBlockList(ctx, input.host, input.domain)).has(input.target))
    failAction(`${what}: virsh attach-device succeeded but the domain does not list ${input.target}`);
}

export async function detachDisk(
  ctx: ActionContext,
  input: DeviceInput & { readonly target: string },
): Promise<{ readonly detached: boolean }> {
  const what = `detach of disk ${input.target} from ${showName(input.domain)} on ${input.host}`;
  if (!/^[a-z]{2,}[a-z0-9]*$/.test(input.target))
    failAction(`${what}: ${showValue(input.target)} is not a disk target`);
  if (!(await readBlockList(ctx, input.host, input.domain)).has(input.target)) {
    ctx.log('I', `${input.target} is not attached to ${showName(input.domain)}: nothing to detach`);
    return { detached: false };
  }
  await ctx.runner.run(
    input.host,
    virsh(ctx, 'detach disk', ['detach-disk', '--live', '--', input.domain, input.target]),
  );
  const gone = await waitUntilGone(
    ctx,
    async () => !(await readBlockList(ctx, input.host, input.domain)).has(input.target),
  );
  if (!gone)
    failAction(
      `${what}: the domain still lists ${input.target} after ${DETACH_WAIT_SECONDS}s (the guest did not release it)`,
    );
  return { detached: true };
}

export async function attachNic(
  ctx: ActionContext,
  input: DeviceInput & { readonly mac: string; readonly nicXml: string },
): Promise<void> {
  const mac = input.mac.toLowerCase();
  const what = `attach of NIC ${mac} to ${showName(input.domain)} on ${input.host}`;
  if ((await readInterfaces(ctx, input.host, input.domain)).has(mac))
    failAction(`${what}: the domain already has a NIC with that MAC; nothing was changed`);
  await attachDevice(ctx, input.host, input.domain, 'attach NIC', input.nicXml);
  if (!(await readInterfaces(ctx, input.host, input.domain)).has(mac))
    failAction(`${what}: virsh attach-device succeeded but the domain does not list ${mac}`);
}

export async function detachNic(
  ctx: ActionContext,
  input: DeviceInput & { readonly mac: string },
): Promise<{ readonly detached: boolean; readonly tries: number }> {
  const mac = input.mac.toLowerCase();
  const what = `detach of NIC ${mac} from ${showName(input.domain)} on ${input.host}`;
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac))
    failAction(`${what}: ${showValue(input.mac)} is not a MAC address`);
  const type = (await readInterfaces(ctx, input.host, input.domain)).get(mac);
  if (type === undefined) {
    ctx.log('I', `no NIC ${mac} on ${showName(input.domain)}: nothing to detach`);
    return { detached: false, tries: 0 };
  }
  // OpenNebula: up to VIRSH_RETRIES detach-interface calls, until domiflist no longer shows it.
  const tries = Math.max(1, ctx.config.virshRetries);
  let lastError: unknown;
  for (let attempt = 1; attempt <= tries; attempt++) {
    try {
      await ctx.runner.run(
        input.host,
        virsh(ctx, 'detach NIC', [
          'detach-interface',
          '--live',
          '--type',
          type,
          '--mac',
          mac,
          '--',
          input.domain,
        ]),
      );
    } catch (error) {
      lastError = error;
    }
    if (await waitUntilGone(ctx, async () => !(await readInterfaces(ctx, input.host, input.domain)).has(mac)))
      return { detached: true, tries: attempt };
    ctx.log('W', `${what}: still listed after try ${attempt} of ${tries}`);
  }
  const reason = lastError instanceof Error ? `: ${lastError.message}` : ` after ${tries} tries`;
  return failAction(`${what}: the domain still lists it${reason}`);
}
