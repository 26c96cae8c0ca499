// Malformed input to ONE driver: a corpus of bad lines (test/fixtures/driver/malformed-lines.txt plus
// generated binary/unicode junk that cannot live in a text file) and a fast-check property. The rule
// (SPEC §2.1): every request that carries a vmid gets exactly one reply; a line without one gets at
// most one `LOG E -1`; no reply spans lines; the driver never throws and keeps working.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeRunner } from '../../src/host/fake-runner.js';
import {
  actionData,
  base64,
  createDriver,
  DEPLOY_42_XML,
  requestLine,
  isStepLog,
  scriptDeploy42,
  UUID_42,
  type DriverHarness,
} from './helpers.js';

const CORPUS_FILE = path.join(import.meta.dirname, '../fixtures/driver/malformed-lines.txt');
const CORPUS = readFileSync(CORPUS_FILE, 'utf8').split('\n').slice(0, -1);

const MB = 1024 * 1024;

// Junk that a text fixture cannot hold: NUL and other control characters, CR and LF inside a line
// (handleLine may be given one by a caller other than readline), lone surrogates, 1 MB lines.
function generatedJunk(): string[] {
  const deepOpen = '<a>'.repeat(100_000);
  return [
    '\u0000',
    '\u0000'.repeat(1000),
    'DEPLOY\u0000 42 x',
    'DEPLOY 42\u0000 x',
    'DEPLOY 42 \u0000',
    'DEPLOY \u000042 x',
    '\u0001\u0002\u0003',
    'DEPLOY\u001b[31m 42 x',
    '\u001b[2J\u001b[H',
    'REBOOT 42 \u007f',
    '\u0007BELL 1 x',
    '\u0085DEPLOY 42 x',
    'DEPLOY 42\rx',
    'DEPLOY\r',
    '\r\r\r',
    'DEPLOY 42 !!!\r',
    'INIT\r',
    'DEPLOY 42 x\nSHUTDOWN 43 y',
    'DEPLOY\n42\n!!!',
    '\nDEPLOY 42 !!!\n',
    'DEPLOY 42\n',
    'DEPLOY\u2028 42 !!!',
    'DEPLOY 42\u2029!!!',
    '\uD800',
    '\uDC00\uD800',
    'DEPLOY \uDC00 x',
    'DEPLOY 42 \uD83D',
    '\uD800 42 x',
    'DEP\uD83DLOY 42 x',
    `DEPLOY 42 <VMM_DRIVER_ACTION_DATA><HOST>\uD800</HOST></VMM_DRIVER_ACTION_DATA>`,
    ' '.repeat(MB),
    'A'.repeat(MB),
    `DEPLOY 42 ${'A'.repeat(MB)}`,
    `DEPLOY 42 ${'!'.repeat(MB)}`,
    `SHUTDOWN 42 ${base64(`<VMM_DRIVER_ACTION_DATA><HOST>${'h'.repeat(MB)}</HOST>`)}`,
    `${'x'.repeat(MB)} 42 y`,
    `DEPLOY ${'9'.repeat(MB)} x`,
    `DEPLOY 42 ${'x '.repeat(MB / 2)}`,
    `DEPLOY 42 ${base64(deepOpen)}`,
    `DEPLOY 42 ${base64(`<VMM_DRIVER_ACTION_DATA>${deepOpen}${'</a>'.repeat(100_000)}</VMM_DRIVER_ACTION_DATA>`)}`,
    `CANCEL 42 ${base64(`<VMM_DRIVER_ACTION_DATA>${'<X>h</X>'.repeat(50_000)}</VMM_DRIVER_ACTION_DATA>`)}`,
  ];
}

type Expectation =
  | { readonly kind: 'init' }
  | { readonly kind: 'finalize' }
  | { readonly kind: 'none' }
  | { readonly kind: 'cancel'; readonly vmid: string }
  | { readonly kind: 'request'; readonly action: string; readonly vmid: string };

// What SPEC §2.1 asks of a line, decided from the line alone: `<ACTION> <vmid> [<payload>]`, split
// on runs of whitespace, where ACTION is an upper-case name (as oned writes them) and vmid a number.
function expectationOf(line: string): Expectation {
  const words = line.split(/\s+/).filter((word) => word !== '');
  const [action, vmid] = words;
  if (words.length === 1 && action === 'INIT') return { kind: 'init' };
  if (words.length === 1 && action === 'FINALIZE') return { kind: 'finalize' };
  if (action === undefined || vmid === undefined) return { kind: 'none' };
  if (!/^[A-Z][A-Z0-9_]*$/.test(action) || !/^-?\d+$/.test(vmid)) return { kind: 'none' };
  if (action === 'DRIVER_CANCEL' && words.length <= 3) return { kind: 'cancel', vmid };
  return { kind: 'request', action, vmid };
}

// Any line the driver writes.
const REPLY = /^(?:INIT SUCCESS - -|LOG [IEWD] -?\d+ \S.*|[A-Z][A-Z0-9_]* (?:SUCCESS|FAILURE) -?\d+ \S.*)$/su;

// A LOG line (not the result of an action named LOG).
function isLog(line: string): boolean {
  return /^LOG [IEWD] /.test(line);
}

function shortly(line: string): string {
  const shown = line.length > 120 ? `${line.slice(0, 120)}… (${line.length} chars)` : line;
  return JSON.stringify(shown);
}

// Feeds one line, waits until every action it started has replied, and checks the rule. With
// `malformed`, a request's reply must be a FAILURE.
async function feedAndCheck(harness: DriverHarness, line: string, malformed: boolean): Promise<void> {
  const before = harness.lines.length;
  let outcome: string | undefined;
  expect(() => (outcome = harness.driver.handleLine(line)), shortly(line)).not.toThrow();
  await harness.driver.finish();
  const replies = harness.since(before);
  const context = `${shortly(line)} → ${JSON.stringify(replies.map((r) => r.slice(0, 200)))}`;
  for (const reply of replies) {
    expect(reply, context).not.toMatch(/[\r\n\u2028\u2029]/);
    expect(reply, context).not.toMatch(/\p{Cc}/u);
    expect(reply, context).toMatch(REPLY);
  }
  const expected = expectationOf(line);
  switch (expected.kind) {
    case 'init':
      expect(replies, context).toEqual(['INIT SUCCESS - -']);
      break;
    case 'finalize':
      throw new Error(`the corpus must not hold a valid FINALIZE: ${context}`);
    case 'none':
      expect(outcome, context).toBe('continue');
      expect(replies.length, context).toBeLessThanOrEqual(1);
      for (const reply of replies) expect(reply.startsWith('LOG E -1 '), context).toBe(true);
      break;
    case 'cancel':
      expect(replies, context).toHaveLength(1);
      expect(replies[0]?.startsWith(`LOG I ${expected.vmid} `), context).toBe(true);
      break;
    case 'request': {
      const results = replies.filter((reply) => !isLog(reply));
      expect(results, context).toHaveLength(1);
      expect(results[0]?.startsWith(`${expected.action} `), context).toBe(true);
      const heads = (malformed ? ['FAILURE'] : ['SUCCESS', 'FAILURE']).map(
        (result) => `${expected.action} ${result} ${expected.vmid} `,
      );
      expect(
        heads.some((head) => results[0]?.startsWith(head)),
        context,
      ).toBe(true);
      // Anything else is a LOG line about the same VM, before the result.
      for (const reply of replies.slice(0, -1)) expect(isLog(reply), context).toBe(true);
      expect(replies.at(-1), context).toBe(results[0]);
      break;
    }
  }
}

async function expectDeployStillWorks(harness: DriverHarness): Promise<void> {
  scriptDeploy42(harness.runner);
  const before = harness.lines.length;
  harness.feed('INIT', requestLine('DEPLOY', 42, DEPLOY_42_XML));
  await harness.driver.finish();
  expect(harness.since(before).filter((line) => !isStepLog(line))).toEqual([
    'INIT SUCCESS - -',
    `DEPLOY SUCCESS 42 ${UUID_42}`,
  ]);
}

describe('malformed lines, one driver', () => {
  it('the corpus is large, one line each, and holds no valid INIT/FINALIZE', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(200);
    expect(new Set(CORPUS).size).toBe(CORPUS.length);
    for (const line of CORPUS) expect(['init', 'finalize']).not.toContain(expectationOf(line).kind);
    // Both sides of the rule are well represented.
    const kinds = CORPUS.map((line) => expectationOf(line).kind);
    expect(kinds.filter((kind) => kind === 'none').length).toBeGreaterThan(60);
    expect(kinds.filter((kind) => kind === 'request').length).toBeGreaterThan(100);
    expect(kinds.filter((kind) => kind === 'cancel').length).toBeGreaterThanOrEqual(5);
  });

  it('answers every corpus line by the rule, then still deploys', async () => {
    const harness = createDriver();
    const lines = [...CORPUS, ...generatedJunk()];

    for (const line of lines) await feedAndCheck(harness, line, true);

    // Nothing reached a host: every line was refused before.
    expect(harness.runner.calls).toEqual([]);
    await expectDeployStillWorks(harness);
  });

  it('keeps the rule when the bad lines come all at once (no waiting between them)', async () => {
    const harness = createDriver();
    const lines = [...CORPUS, ...generatedJunk()];

    for (const line of lines) expect(() => harness.driver.handleLine(line), shortly(line)).not.toThrow();
    await harness.driver.finish();

    const expectations = lines.map(expectationOf);
    const results = harness.lines.filter((line) => !isLog(line));
    const expected = expectations.flatMap((e) =>
      e.kind === 'init' ? ['INIT SUCCESS -'] : e.kind === 'request' ? [`${e.action} FAILURE ${e.vmid}`] : [],
    );
    // Refusals are written at once and scheduled failures later, so compare without order.
    expect(results.map((line) => line.split(' ', 3).join(' ')).sort()).toEqual(expected.sort());
    const minusOne = harness.lines.filter((line) => line.startsWith('LOG E -1 '));
    expect(minusOne.length).toBeLessThanOrEqual(expectations.filter((e) => e.kind === 'none').length);
    for (const line of harness.lines) expect(line).not.toMatch(/[\r\n]/);
    await expectDeployStillWorks(harness);
  });
});

// --- property -----------------------------------------------------------------------------------

const ACTIONS = [
  'DEPLOY', 'SHUTDOWN', 'CANCEL', 'REBOOT', 'RESET', 'SAVE', 'RESTORE', 'MIGRATE', 'POLL', 'ATTACHDISK',
  'DETACHDISK', 'ATTACHNIC', 'DETACHNIC', 'SNAPSHOTCREATE', 'SNAPSHOTREVERT', 'SNAPSHOTDELETE', 'CLEANUP',
  'RESIZE', 'RESIZEDISK', 'DRIVER_CANCEL', 'INIT', 'BACKUP', 'LOG',
]; // prettier-ignore

const VALID_XML = [
  DEPLOY_42_XML,
  actionData({ host: 'node1', deployId: 'one-42' }),
  actionData({ host: 'node1', deployId: 'one-7', checkpointFile: '/var/lib/one//datastores/0/7/checkpoint' }),
  actionData({ deployId: 'one-42' }),
];

// Text with one edit: a character dropped, replaced or inserted, or the text cut short.
function corrupt(text: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(
      text,
      fc.nat(),
      fc.constantFrom('drop', 'replace', 'insert', 'cut'),
      fc.string({ minLength: 1, maxLength: 3 }),
    )
    .map(([value, at, how, junk]) => {
      const i = value.length === 0 ? 0 : at % value.length;
      switch (how) {
        case 'drop':
          return value.slice(0, i) + value.slice(i + 1);
        case 'replace':
          return value.slice(0, i) + junk + value.slice(i + 1);
        case 'insert':
          return value.slice(0, i) + junk + value.slice(i);
        case 'cut':
          return value.slice(0, i);
      }
    });
}

const xmlText = fc.constantFrom(...VALID_XML);
const payload = fc.oneof(
  { weight: 4, arbitrary: xmlText.map(base64) },
  { weight: 2, arbitrary: corrupt(xmlText.map(base64)) },
  { weight: 2, arbitrary: corrupt(xmlText).map(base64) },
  { weight: 1, arbitrary: fc.base64String({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '=', '!!!', '<VMM_DRIVER_ACTION_DATA/>') },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);
const action = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ACTIONS) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,10}$/) },
  { weight: 1, arbitrary: fc.constantFrom('deploy', 'Shutdown', '') },
);
const vmid = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -2, max: 100_000 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('', '42', 'abc', '4.2', '+1', '٤٢', '007') },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
);
const blank = fc.oneof(
  { weight: 9, arbitrary: fc.constantFrom(' ', '  ', '\t', ' \t ') },
  { weight: 1, arbitrary: fc.constantFrom('', '\u00a0', '\n') },
);
const structured = fc
  .tuple(action, blank, vmid, blank, payload, fc.constantFrom('', ' ', ' extra', '\r'))
  .map(([a, s1, v, s2, p, tail]) => `${a}${s1}${v}${s2}${p}${tail}`);
const anyLine = fc.oneof(
  { weight: 3, arbitrary: structured },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 60 }) },
);

describe('malformed lines, property', () => {
  it('never throws, answers by the rule, and a valid DEPLOY still works afterwards', async () => {
    // Hosts where every command succeeds with no output and no domain is defined, but one-42 on
    // node2 deploys: valid requests succeed or fail quickly, never wait.
    const harness = createDriver({ runner: new FakeRunner({ fallback: {} }) });
    scriptDeploy42(harness.runner).reply('domstate', {
      exitCode: 1,
      stderr: "error: failed to get domain 'x'\n",
    });

    await fc.assert(
      fc.asyncProperty(
        fc
          .array(anyLine, { minLength: 1, maxLength: 8 })
          .filter((lines) => lines.every((line) => expectationOf(line).kind !== 'finalize')),
        async (lines) => {
          for (const line of lines) await feedAndCheck(harness, line, false);
        },
      ),
      { numRuns: 400 },
    );

    // The generators reach both sides: refusals, and requests that ran on the (fake) host. Seen over
    // runs: 16-39 SUCCESS, 446-531 FAILURE, 29-74 host commands (a bound of 20 failed one run in four).
    const results = harness.lines.filter((line) => !isLog(line));
    expect(results.filter((line) => / SUCCESS /.test(line)).length).toBeGreaterThan(5);
    expect(results.filter((line) => / FAILURE /.test(line)).length).toBeGreaterThan(200);
    expect(harness.runner.calls.length).toBeGreaterThan(10);
    await expectDeployStillWorks(harness);
  });
});
