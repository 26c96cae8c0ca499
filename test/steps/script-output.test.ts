import { describe, expect, it } from 'vitest';
import { failureMessage, readScriptStderr } from '../../src/steps/script-output.js';

describe('readScriptStderr', () => {
  it("reads OpenNebula's log lines (with or without a VM id) and keeps the other lines as the message", () => {
    const stderr = readScriptStderr(
      'INFO: pre: Executed "sudo -n ip link add br0".\r\nERROR: 12 clone: failed\nWARN:  slow\nDEBUG: x\n\n  Error cloning image  \nsecond\n',
    );

    expect(stderr.logs).toEqual([
      { severity: 'I', text: 'pre: Executed "sudo -n ip link add br0".' },
      { severity: 'E', vmid: '12', text: 'clone: failed' },
      { severity: 'W', text: 'slow' },
      { severity: 'D', text: 'x' },
    ]);
    expect(stderr.message).toEqual(['Error cloning image', 'second']);
    expect(failureMessage(stderr)).toBe('Error cloning image\nsecond');
  });

  it('falls back to the ERROR lines, then to nothing', () => {
    expect(failureMessage(readScriptStderr('INFO: a\nERROR: b\nERROR: c\n'))).toBe('b\nc');
    expect(failureMessage(readScriptStderr('INFO: a\n'))).toBe('');
    expect(failureMessage(readScriptStderr(''))).toBe('');
  });

  it('shortens a long message to its last lines that say what failed (the rsync backup of a full datastore)', () => {
    // what OpenNebula's rsync backup printed on the testbed when the backup host's disk was full
    const stderr = [
      'Command failed:',
      'export LANG=C',
      'set -ex -o pipefail',
      'BKSIZE=`du -sm /ds/0/88/backup`',
      'rsync -aS /ds/0/88/backup/ root@10.77.2.12:/ds/101/88/4606c7/ > /dev/null',
      'Error copying backup: ++ du -sm /ds/0/88/backup',
      "+ BKSIZE='1 /ds/0/88/backup'",
      '+ rsync -aS /ds/0/88/backup/ root@10.77.2.12:/ds/101/88/4606c7/',
      'rsync: [receiver] write failed on "/ds/101/88/4606c7/vm.xml": No space left on device (28)',
      'rsync error: error in file IO (code 11) at receiver.c(657) [receiver=3.5.0]',
    ].join('\n');
    expect(failureMessage(readScriptStderr(stderr))).toBe(
      [
        'Error copying backup',
        'rsync: [receiver] write failed on "/ds/101/88/4606c7/vm.xml": No space left on device (28)',
        'rsync error: error in file IO (code 11) at receiver.c(657) [receiver=3.5.0]',
      ].join('\n'),
    );
    expect(failureMessage(readScriptStderr('a\nb\nc\nd\ne\n'))).toBe('c\nd\ne');
  });

  it("names the trace's last command when the tool's own message is missing (rsync cut off by ssh, exit 255)", () => {
    // the same backup on the testbed another time: rsync's message never reached the driver
    const stderr = [
      'Command failed:',
      'set -ex -o pipefail',
      'rsync -aS /ds/0/89/backup/ root@10.77.2.12:/ds/101/89/b7502b/ > /dev/null',
      'Error copying backup: ++ du -sm /ds/0/89/backup',
      "+ BKSIZE='1 /ds/0/89/backup'",
      '++ ls /ds/0/89/backup/disk.0.0',
      '+ rsync -aS /ds/0/89/backup/ root@10.77.2.12:/ds/101/89/b7502b/',
    ].join('\n');
    expect(failureMessage(readScriptStderr(stderr))).toBe(
      'Error copying backup\nlast command: rsync -aS /ds/0/89/backup/ root@10.77.2.12:/ds/101/89/b7502b/',
    );
  });
});
