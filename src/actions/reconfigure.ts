// prereconfigure / reconfigure: the context CD-ROM is ejected before oned writes a new context
// image, and the new image inserted afterwards (`virsh change-media`).
import { CommandError } from '../host/errors.js';
import { OnevmmError } from '../util/errors.js';
import { showName, showValue } from '../util/show-value.js';
import { virsh, type ActionContext } from './context.js';
import { readBlockList } from './hotplug.js';

export interface MediaInput {
  readonly host: string;
  readonly domain: string;
  readonly target: string;
}

function checkTarget(target: string, what: string): void {
  if (!/^[a-z]{2,}[a-z0-9]*$/.test(target))
    throw new OnevmmError('ACTION', `${what}: ${showValue(target)} is not a disk target`);
}

// Ejects the CD-ROM; one that is empty already is a success.
export async function ejectMedia(
  ctx: ActionContext,
  input: MediaInput,
): Promise<{ readonly ejected: boolean }> {
  const what = `eject of ${input.target} of ${showName(input.domain)} on ${input.host}`;
  checkTarget(input.target, what);
  const disks = await readBlockList(ctx, input.host, input.domain);
  const source = disks.get(input.target);
  if (source === undefined) throw new OnevmmError('ACTION', `${what}: the domain has no ${input.target}`);
  if (source === '-' || source === '') {
    ctx.log('I', `CDROM already ejected`);
    return { ejected: false };
  }
  await ctx.runner.run(
    input.host,
    virsh(ctx, 'eject CD-ROM', ['change-media', '--eject', '--force', '--', input.domain, input.target]),
  );
  return { ejected: true };
}

export async function insertMedia(
  ctx: ActionContext,
  input: MediaInput & { readonly image: string },
): Promise<void> {
  const what = `insert of ${showValue(input.image)} into ${input.target} of ${showName(input.domain)} on ${input.host}`;
  checkTarget(input.target, what);
  if (!input.image.startsWith('/'))
    throw new OnevmmError('ACTION', `${what}: the image must be an absolute path`);
  const kind = await ctx.runner.run(input.host, {
    step: 'check image',
    argv: [
      'sh',
      '-c',
      'if [ -b "$1" ]; then echo block; elif [ -f "$1" ]; then echo file; else echo missing; fi',
      'sh',
      input.image,
    ],
    signal: ctx.signal,
  });
  const type = kind.stdout.trim();
  if (type === 'missing') throw new OnevmmError('ACTION', `${what}: there is no such file on ${input.host}`);
  const insert = virsh(ctx, 'insert CD-ROM', [
    'change-media',
    '--insert',
    ...(type === 'block' ? ['--block'] : []),
    '--',
    input.domain,
    input.target,
    input.image,
  ]);
  for (let attempt = 1; ; attempt++) {
    try {
      await ctx.runner.run(input.host, insert);
      return;
    } catch (error) {
      if (attempt >= INSERT_ATTEMPTS || !trayClosedUnder(error)) throw error;
      ctx.log(
        'I',
        `${input.target} of ${showName(input.domain)} on ${input.host}: the guest closed the empty tray while libvirt inserted the image; inserting again`,
      );
      await ctx.sleep(INSERT_RETRY_MS, ctx.signal);
    }
  }
}

// A Linux guest closes an open tray whenever something opens the drive (the kernel's CD-ROM
// autoclose), so between libvirt's tray-open and its blockdev-insert-medium the tray can be shut
// again: QEMU refuses the insert and the drive is left empty, as after the eject. Inserting again
// is the same request on the same empty drive (seen under the real oned in CI, where the test
// guest reads its CD every 2 s; OpenNebula's reconfigure has the same race and fails).
const INSERT_ATTEMPTS = 3;
const INSERT_RETRY_MS = 500;

function trayClosedUnder(error: unknown): boolean {
  return (
    error instanceof CommandError &&
    error.reason === 'exit' &&
    /Tray of the device is not open/.test(error.stderr)
  );
}
