import { describe, expect, it } from 'vitest';
import { parseDriverArguments } from '../../src/driver/arguments.js';
import { OnevmmError } from '../../src/util/errors.js';

function usageError(argv: readonly string[]): OnevmmError {
  try {
    parseDriverArguments(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(OnevmmError);
    return error as OnevmmError;
  }
  throw new Error(`parseDriverArguments(${JSON.stringify(argv)}) did not throw`);
}

describe('parseDriverArguments', () => {
  it("splits oned's ARGUMENTS, passed as ONE argv element (master's default)", () => {
    const options = parseDriverArguments(['-t 15 -r 0 kvm -p']);

    expect(options).toEqual({
      concurrency: 15,
      retries: 0,
      timeoutSeconds: undefined,
      localActions: new Map(),
      parallelPerHost: true,
      hypervisor: 'kvm',
    });
  });

  it('reads the same options whether they come as one element or several, with any blanks between', () => {
    const one = parseDriverArguments(['  -t\t7  -r 2\n kvm   -w 30 ']);
    const many = parseDriverArguments(['-t', '7', '-r', '2', 'kvm', '-w', '30']);

    expect(one).toEqual(many);
    expect(one).toMatchObject({ concurrency: 7, retries: 2, timeoutSeconds: 30, hypervisor: 'kvm' });
  });

  it.each([
    ['3.8.5 / 5.12 / 6.0', '-t 15 -r 0 kvm', false],
    ['4.14', '-t 15 -r 0 -i kvm', false],
    ['6.4 / 6.10 / master', '-t 15 -r 0 kvm -p', true],
  ])('accepts the ARGUMENTS oned %s ships', (_version, args, parallel) => {
    expect(parseDriverArguments([args])).toMatchObject({
      concurrency: 15,
      retries: 0,
      parallelPerHost: parallel,
      hypervisor: 'kvm',
    });
  });

  it('has the defaults of SPEC §2.1 when given nothing', () => {
    for (const argv of [[], [''], ['   ']]) {
      expect(parseDriverArguments(argv)).toEqual({
        concurrency: 15,
        retries: 0,
        timeoutSeconds: undefined,
        localActions: new Map(),
        parallelPerHost: false,
        hypervisor: 'kvm',
      });
    }
  });

  it('reads -t, -r and -w as whole numbers', () => {
    expect(parseDriverArguments(['-t 1 -r 5 -w 600 kvm'])).toMatchObject({
      concurrency: 1,
      retries: 5,
      timeoutSeconds: 600,
    });
  });

  it('lets the last of a repeated option win', () => {
    expect(parseDriverArguments(['-t 3 -t 9 kvm']).concurrency).toBe(9);
  });

  it('reads -l: names lower-cased, `=script` kept (migrate=migrate_local selects the local migrate)', () => {
    const options = parseDriverArguments(['-t 15 -r 0 -l deploy,migrate=migrate_local kvm']);

    expect(options.localActions).toEqual(
      new Map<string, string | undefined>([
        ['deploy', undefined],
        ['migrate', 'migrate_local'],
      ]),
    );
    expect(options.hypervisor).toBe('kvm');
  });

  it("reads one_vmm_sh's long -l list (upper case too) and skips empty items", () => {
    const options = parseDriverArguments([
      '-t 15 -r 0 kvm -l DEPLOY,shutdown,,reboot,Migrate=migrate_local,',
    ]);

    expect([...options.localActions.entries()]).toEqual([
      ['deploy', undefined],
      ['shutdown', undefined],
      ['reboot', undefined],
      ['migrate', 'migrate_local'],
    ]);
  });

  it.each(['-t 15 -r 0 -d -s -i kvm', '-t 15 -r 0 kvm -p -d', '-t 15 -r 0 kvm -s', '-i -t 15 -r 0 kvm'])(
    "accepts -d and -s (and 4.14's -i) and ignores them: %s",
    (args) => {
      expect(parseDriverArguments([args])).toMatchObject({ concurrency: 15, retries: 0, hypervisor: 'kvm' });
    },
  );

  // OpenNebula's GetoptLong declares -d (--delegate) and -s (--shell) with a REQUIRED argument
  // (reference §2.6): `-s bash` is one option, and `bash` must not become the hypervisor.
  it.each([
    ['-t 15 -r 0 -s bash kvm', 'kvm'],
    ['-t 15 -r 0 -d migrate kvm -p', 'kvm'],
    ['-s bash -d migrate,save kvm', 'kvm'],
  ])('takes the argument of -d / -s as theirs: %s', (args, hypervisor) => {
    expect(parseDriverArguments([args]).hypervisor).toBe(hypervisor);
  });

  it('takes the first non-option word as the hypervisor, wherever it is', () => {
    expect(parseDriverArguments(['-p kvm -t 2']).hypervisor).toBe('kvm');
    expect(parseDriverArguments(['-t 2 qemu']).hypervisor).toBe('qemu');
    expect(parseDriverArguments(['qemu kvm']).hypervisor).toBe('qemu');
  });

  it.each([
    ['-t', '-t 0', '≥ 1', "'0'"],
    ['-t', '-t -1', '≥ 1', "'-1'"],
    ['-t', '-t abc', '≥ 1', "'abc'"],
    ['-t', '-t 1.5', '≥ 1', "'1.5'"],
    ['-t', '-t 15x', '≥ 1', "'15x'"],
    ['-t', '-t', '≥ 1', "''"],
    ['-r', '-r -1', '≥ 0', "'-1'"],
    ['-r', '-r two', '≥ 0', "'two'"],
    ['-r', '-r', '≥ 0', "''"],
    ['-w', '-w 0', '≥ 1', "'0'"],
    ['-w', '-w kvm', '≥ 1', "'kvm'"],
    ['-w', 'kvm -w', '≥ 1', "''"],
  ])(
    'rejects a bad %s value (%s), naming the flag, the expectation and the value',
    (flag, args, min, got) => {
      const error = usageError([args]);

      expect(error.code).toBe('USAGE');
      expect(error.message).toBe(`one_vmm_exec: ${flag} needs a whole number ${min}, got ${got}`);
    },
  );

  it.each(['-x', '--threads', '-tp', '--'])('rejects the unknown option %s, naming it', (option) => {
    const error = usageError([`-t 15 ${option} kvm`]);

    expect(error.code).toBe('USAGE');
    expect(error.message).toBe(`one_vmm_exec: unknown option '${option}'`);
  });
});
