import { describe, expect, it } from 'vitest';
import { formatLog, formatResult, parseRequest } from '../../src/driver/protocol.js';
import { toOneLine } from '../../src/util/one-line.js';

const B64 = 'PFZNTV9EUklWRVJfQUNUSU9OX0RBVEE+PC9WTU1fRFJJVkVSX0FDVElPTl9EQVRBPg==';

describe('parseRequest', () => {
  it.each([
    ['≤5.12: one space after the action', `DEPLOY 42 ${B64}`],
    ['≥6.0: two spaces after the action (empty STATUS)', `DEPLOY  42 ${B64}`],
    ['tabs and runs of blanks', `DEPLOY\t\t42   ${B64}  `],
    ['a trailing CR (CRLF line end)', `DEPLOY  42 ${B64}\r`],
  ])('reads a request line: %s', (_what, line) => {
    expect(parseRequest(line)).toEqual({ kind: 'action', action: 'DEPLOY', vmid: '42', payload: B64 });
  });

  it('reads oned\'s DRIVER_CANCEL with its empty payload ("DRIVER_CANCEL  42 ")', () => {
    expect(parseRequest('DRIVER_CANCEL  42 ')).toEqual({
      kind: 'action',
      action: 'DRIVER_CANCEL',
      vmid: '42',
      payload: '',
    });
  });

  it('reads a request without a payload as an empty payload (the handler then names what is missing)', () => {
    expect(parseRequest('SHUTDOWN 7')).toEqual({
      kind: 'action',
      action: 'SHUTDOWN',
      vmid: '7',
      payload: '',
    });
  });

  it('keeps unknown but well-formed action names (they are answered "unsupported action")', () => {
    expect(parseRequest(`BACKUP  3 ${B64}`)).toEqual({
      kind: 'action',
      action: 'BACKUP',
      vmid: '3',
      payload: B64,
    });
  });

  it.each(['INIT', 'INIT ', '  INIT\r', 'INIT\t'])('reads INIT (%j)', (line) => {
    expect(parseRequest(line)).toEqual({ kind: 'init' });
  });

  it.each(['FINALIZE', 'FINALIZE  ', 'FINALIZE\r'])('reads FINALIZE (%j)', (line) => {
    expect(parseRequest(line)).toEqual({ kind: 'finalize' });
  });

  it.each([
    ['an empty line', '', { kind: 'bad', reason: 'empty line' }],
    ['a blank line', ' \t \r', { kind: 'bad', reason: 'empty line' }],
    ['no vmid', 'DEPLOY', { kind: 'bad', reason: 'DEPLOY without a VM id', action: 'DEPLOY' }],
    [
      'no vmid (trailing blanks)',
      'SHUTDOWN   ',
      { kind: 'bad', reason: 'SHUTDOWN without a VM id', action: 'SHUTDOWN' },
    ],
    [
      'a vmid that is a word',
      `DEPLOY abc ${B64}`,
      { kind: 'bad', reason: "DEPLOY: not a VM id: 'abc'", action: 'DEPLOY' },
    ],
    [
      'a vmid with a sign and text',
      'DEPLOY +42 x',
      { kind: 'bad', reason: "DEPLOY: not a VM id: '+42'", action: 'DEPLOY' },
    ],
    [
      'a decimal vmid',
      'DEPLOY 4.2 x',
      { kind: 'bad', reason: "DEPLOY: not a VM id: '4.2'", action: 'DEPLOY' },
    ],
    [
      'the payload where the vmid goes',
      'DEPLOY PFZNTQ==',
      { kind: 'bad', reason: "DEPLOY: not a VM id: 'PFZNTQ=='", action: 'DEPLOY' },
    ],
    ['a lowercase action', `deploy 42 ${B64}`, { kind: 'bad', reason: "not an action name: 'deploy'" }],
    ['a mixed-case action', 'Shutdown 42 x', { kind: 'bad', reason: "not an action name: 'Shutdown'" }],
    [
      'an action with a digit first',
      '1DEPLOY 42 x',
      { kind: 'bad', reason: "not an action name: '1DEPLOY'" },
    ],
    ['a lowercase init', 'init', { kind: 'bad', reason: "not an action name: 'init'" }],
    [
      'control characters in the action',
      'DEP\u0000LOY 42 x',
      { kind: 'bad', reason: "not an action name: 'DEP?LOY'" },
    ],
  ])('rejects %s without a vmid (no FAILURE line can be addressed)', (_what, line, expected) => {
    expect(parseRequest(line)).toEqual(expected);
  });

  it.each([
    ['too many fields', `DEPLOY  42 ${B64} extra`, 'DEPLOY: 4 fields, expected 3', 'DEPLOY'],
    ['a payload split by a blank', 'SHUTDOWN 5 PFZN TV9E', 'SHUTDOWN: 4 fields, expected 3', 'SHUTDOWN'],
    ['INIT with arguments', 'INIT 1 2 3', 'INIT: 4 fields, expected 3', 'INIT'],
  ])('rejects %s but keeps the vmid (so it gets a FAILURE)', (_what, line, reason, action) => {
    const vmid = line.split(/\s+/)[1];
    expect(parseRequest(line)).toEqual({ kind: 'bad', reason, action, vmid });
  });

  it('shows a long or binary word shortened and printable in the reason', () => {
    const request = parseRequest(`${'x'.repeat(100)} 1 2`);

    expect(request).toEqual({ kind: 'bad', reason: `not an action name: '${'x'.repeat(40)}…'` });
  });

  it('reads negative and zero-padded vmids as given (they are echoed back, never renumbered)', () => {
    expect(parseRequest('CANCEL -1 x')).toMatchObject({ kind: 'action', vmid: '-1' });
    expect(parseRequest('CANCEL 007 x')).toMatchObject({ kind: 'action', vmid: '007' });
  });
});

describe('toOneLine', () => {
  it('joins lines with "; " and drops blanks around the breaks', () => {
    expect(toOneLine('error: Failed to start domain\nerror: internal error: boom\n')).toBe(
      'error: Failed to start domain; error: internal error: boom',
    );
    expect(toOneLine('a \r\n\r\n  b\rc')).toBe('a; b; c');
  });

  it('turns control characters and Unicode line separators into spaces', () => {
    expect(toOneLine('a\u0000b\u0007c\u001bd\u007fe\u0085f\u2028g\u2029h\vi\fj\tk')).toBe(
      'a b c d e f g h i j k',
    );
  });

  it('says "-" for empty or blank text (the protocol has no empty fields)', () => {
    expect(toOneLine('')).toBe('-');
    expect(toOneLine(' \n\t\r\n ')).toBe('-');
    expect(toOneLine('\u0000')).toBe('-');
  });

  it('keeps printable Unicode as it is', () => {
    expect(toOneLine('«shop» — Ålice & co. 日本 😀')).toBe('«shop» — Ålice & co. 日本 😀');
  });

  it('bounds the length (2000 by default, or the given max) and marks the cut with …', () => {
    expect(toOneLine('x'.repeat(5000))).toBe(`${'x'.repeat(2000)}…`);
    expect(toOneLine('x'.repeat(2000))).toBe('x'.repeat(2000));
    expect(toOneLine('abcdef', 3)).toBe('abc…');
  });

  it('bounds a 1 MB multi-line text to one short line', () => {
    const line = toOneLine('error: x\n'.repeat(120_000));

    expect(line.length).toBeLessThanOrEqual(2001);
    expect(line).not.toMatch(/[\r\n]/);
    expect(line.startsWith('error: x; error: x;')).toBe(true);
  });

  // A cut in the middle of a surrogate pair leaves half a character, which a UTF-8 writer
  // turns into U+FFFD.
  it('does not cut a character in half', () => {
    const line = toOneLine(`${'x'.repeat(1999)}😀😀`);

    expect(line).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });
});

const RESULTS: [Parameters<typeof formatResult>, string][] = [
  [
    ['DEPLOY', true, '42', '8c1b9a3e-0000-4000-8000-000000000005'],
    'DEPLOY SUCCESS 42 8c1b9a3e-0000-4000-8000-000000000005',
  ],
  [['SHUTDOWN', true, '5', ''], 'SHUTDOWN SUCCESS 5 -'],
  [
    ['CANCEL', false, '5', 'virsh: some error\nExitCode: 1'],
    'CANCEL FAILURE 5 virsh: some error; ExitCode: 1',
  ],
  [['REBOOT', false, '7', 'cancelled'], 'REBOOT FAILURE 7 cancelled'],
  [['POLL', true, '3', 'STATE=a CPU=0 MEMORY=0'], 'POLL SUCCESS 3 STATE=a CPU=0 MEMORY=0'],
];

describe('formatResult', () => {
  it.each(RESULTS)('formats %j as `%s`', (args, expected) => {
    expect(formatResult(...args)).toBe(expected);
  });
});

const LOGS: [Parameters<typeof formatLog>, string][] = [
  [['I', '42', 'Driver command for 42 cancelled'], 'LOG I 42 Driver command for 42 cancelled'],
  [['E', '-1', 'ignored a line'], 'LOG E -1 ignored a line'],
  [['W', '5', 'two\nlines'], 'LOG W 5 two; lines'],
  [['D', '5', ''], 'LOG D 5 -'],
];

describe('formatLog', () => {
  it.each(LOGS)('formats %j as `%s`', (args, expected) => {
    expect(formatLog(...args)).toBe(expected);
  });
});
