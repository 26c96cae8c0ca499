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
});
