// The context CD-ROM's insert (reconfigure): a guest that shuts the empty tray under libvirt's
// insert is answered by inserting again; any other failure is reported as it came.
import { describe, expect, it } from 'vitest';
import { insertMedia } from '../../src/actions/reconfigure.js';
import { createTestContext, failure } from './helpers.js';

const TRAY_SHUT = {
  exitCode: 1,
  stderr:
    "error: Failed to complete action insert on media\nerror: internal error: unable to execute QEMU command 'blockdev-insert-medium': Tray of the device is not open\n",
};
const INPUT = { host: 'tb-h1', domain: 'one-7', target: 'hda', image: '/var/lib/one/datastores/0/7/disk.1' };
const inserts = (commands: string[]): string[] => commands.filter((c) => c.includes('--insert'));

describe('insertMedia', () => {
  it('inserts again, half a second later, when the guest shut the tray under the insert', async () => {
    const { ctx, runner, clock, logs } = createTestContext();
    runner
      .reply((call) => call.step.step === 'check image', { stdout: 'file\n' })
      .reply('change-media', TRAY_SHUT, {});

    await insertMedia(ctx, INPUT);

    expect(inserts(runner.commands())).toHaveLength(2);
    expect(clock.sleeps).toEqual([500]);
    expect(logs).toEqual([
      [
        'I',
        'hda of one-7 on tb-h1: the guest closed the empty tray while libvirt inserted the image; inserting again',
      ],
    ]);
  });

  it('gives up after three inserts with libvirt’s message', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply((call) => call.step.step === 'check image', { stdout: 'file\n' })
      .reply('change-media', TRAY_SHUT);

    const error = await failure(insertMedia(ctx, INPUT));

    expect(inserts(runner.commands())).toHaveLength(3);
    expect(error.message).toContain('tb-h1');
    expect(error.message).toContain('Tray of the device is not open');
  });

  it('does not insert again after another failure', async () => {
    const { ctx, runner } = createTestContext();
    runner
      .reply((call) => call.step.step === 'check image', { stdout: 'file\n' })
      .reply('change-media', { exitCode: 1, stderr: "error: failed to get domain 'one-7'\n" });

    const error = await failure(insertMedia(ctx, INPUT));

    expect(inserts(runner.commands())).toHaveLength(1);
    expect(error.message).toContain("failed to get domain 'one-7'");
  });
});
