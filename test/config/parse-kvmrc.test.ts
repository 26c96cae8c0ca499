import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKvmrc } from '../../src/config/parse-kvmrc.js';
import { ParseError } from '../../src/util/errors.js';

const ENV = { HOME: '/home/oneadmin', PATH: '/usr/bin:/bin', ENV_ONE: 'hello  world', ENV_EMPTY: '' };
const SHIPPED = join(dirname(fileURLToPath(import.meta.url)), '../../remotes/etc/vmm/kvm/kvmrc');

function parse(text: string, env: Record<string, string | undefined> = ENV): Record<string, string> {
  return { ...parseKvmrc(text, { file: 'kvmrc', env }) };
}

function errorOf(text: string, env: Record<string, string | undefined> = ENV): ParseError {
  try {
    parseKvmrc(text, { file: 'kvmrc', env });
  } catch (error) {
    if (error instanceof ParseError) return error;
    throw error;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

// Asserts the text is rejected at line:column with a message containing `what`.
function expectRejected(text: string, line: number, column: number, what: string): void {
  const error = errorOf(text);
  expect(error.code).toBe('PARSE');
  expect(error.position).toEqual({ file: 'kvmrc', line, column });
  expect(error.message).toContain(`kvmrc:${line}:${column}: `);
  expect(error.reason).toContain(what);
}

describe('parseKvmrc: lines and statements', () => {
  it('reads blank lines, comments and assignments', () => {
    expect(parse('\n  \n# a comment\nA=1\n\tB=two # trailing\n')).toEqual({ A: '1', B: 'two' });
  });

  it('returns only the variables the file assigns, in an object without a prototype', () => {
    const vars = parseKvmrc('A=1', { file: 'kvmrc', env: ENV });
    expect(Object.keys(vars)).toEqual(['A']);
    expect(Object.getPrototypeOf(vars)).toBeNull();
    expect(parse('A=$constructor B=$toString', {})).toEqual({ A: '', B: '' });
  });

  it('handles export NAME=value, several arguments, and export of an existing NAME', () => {
    expect(parse('export A=1 B=2')).toEqual({ A: '1', B: '2' });
    expect(parse('A=1\nexport A')).toEqual({ A: '1' });
    expect(parse('export ENV_ONE ENV_EMPTY')).toEqual({ ENV_ONE: 'hello  world', ENV_EMPTY: '' });
    expect(parse('export NOT_SET')).toEqual({});
    expect(parse('export NOT_SET; NOT_SET=1')).toEqual({ NOT_SET: '1' });
  });

  it('treats several assignments on a line as bash does: in order', () => {
    expect(parse('A=1 B=$A\tC=${B}x')).toEqual({ A: '1', B: '1', C: '1x' });
  });

  it('expands all export arguments before exporting, as bash does', () => {
    expect(parse('export A=1 B=$A')).toEqual({ A: '1', B: '' });
    expect(parse('A=0\nexport A=1 B=$A')).toEqual({ A: '1', B: '0' });
  });

  it('supports NAME+=value', () => {
    expect(parse('A=1; A+=2 B+=$ENV_ONE; export ENV_EMPTY+=x')).toEqual({
      A: '12',
      B: 'hello  world',
      ENV_EMPTY: 'x',
    });
  });

  it('keeps # inside a word and starts a comment only after a blank', () => {
    expect(parse('A=x#y B=#z C=1 #comment $(no)')).toEqual({ A: 'x#y', B: '#z', C: '1' });
  });

  it('accepts ; between and after statements', () => {
    expect(parse('A=1; B=2;\nexport C=3 ; D=4 ;# c')).toEqual({ A: '1', B: '2', C: '3', D: '4' });
  });

  it('rejects a ; with no statement before it', () => {
    expectRejected(';', 1, 1, 'unexpected ;');
    expectRejected('A=1;;', 1, 5, 'unexpected ;');
    expectRejected('A=1; ;', 1, 6, 'unexpected ;');
  });

  it('gives an empty value to NAME=', () => {
    expect(parse('A= B=""')).toEqual({ A: '', B: '' });
  });
});

describe('parseKvmrc: quoting', () => {
  it('keeps single-quoted text literal', () => {
    expect(parse(`A='a $B \\n "x" \`y\` #z'`)).toEqual({ A: 'a $B \\n "x" `y` #z' });
  });

  it('applies only bash escapes inside double quotes', () => {
    expect(parse('A="q\\" b\\\\ d\\$ t\\` n\\\nx o\\a\\\' $ "')).toEqual({
      A: 'q" b\\ d$ t` nx o\\a\\\' $ ',
    });
  });

  it('expands variables inside double quotes', () => {
    expect(parse('A=v\nB="<$A|${A}|${ENV_ONE}|$NOPE>"')).toEqual({ A: 'v', B: '<v|v|hello  world|>' });
  });

  it('lets a backslash escape the next character outside quotes', () => {
    expect(parse('A=a\\ b\\#\\$x\\"\\\'\\\\\\;')).toEqual({ A: 'a b#$x"\'\\;' });
  });

  it('treats an unquoted backslash-newline as a line continuation, even inside a name', () => {
    expect(parse('A=ab\\\ncd B=1 \\\nC=2\nLO\\\nNG=3')).toEqual({ A: 'abcd', B: '1', C: '2', LONG: '3' });
    expect(parse('A=$\\\n{ENV_ONE}')).toEqual({ A: 'hello  world' });
  });

  it('counts lines across continuations in error positions', () => {
    expectRejected('A=1 \\\n  B=$(x)', 2, 5, 'command substitution');
  });

  it('does not continue a comment with a trailing backslash', () => {
    expect(parse('# comment \\\nA=1')).toEqual({ A: '1' });
  });

  it('keeps a backslash at the very end of the file', () => {
    expect(parse('A=x\\')).toEqual({ A: 'x\\' });
  });

  it('concatenates adjacent segments', () => {
    expect(parse(`A='a'"b"c'd e'"$ENV_EMPTY"f`)).toEqual({ A: 'abcd ef' });
  });

  it('allows multi-line quoted values and keeps later line numbers right', () => {
    expect(parse('A=\'one\ntwo\'\nB="three\nfour"')).toEqual({ A: 'one\ntwo', B: 'three\nfour' });
    expectRejected('A=\'one\ntwo\'\nB="x\ny" echo', 4, 4, 'command `echo`');
  });

  it('keeps a literal $ that starts no expansion', () => {
    expect(parse('A=$ B=a$%b C="$" D="x$\'y\'"')).toEqual({ A: '$', B: 'a$%b', C: '$', D: "x$'y'" });
  });

  it('does not expand globs or braces in assignments, nor non-ASCII names', () => {
    expect(parse('A=* B={a,b} C=[x]? D=$é')).toEqual({ A: '*', B: '{a,b}', C: '[x]?', D: '$é' });
  });
});

describe('parseKvmrc: expansion', () => {
  it('prefers earlier assignments to the env, and gives unset names an empty value', () => {
    expect(parse('A=$HOME\nHOME=/x\nB=$HOME C=$NOPE')).toEqual({
      A: '/home/oneadmin',
      HOME: '/x',
      B: '/x',
      C: '',
    });
  });

  it('does not word-split an unquoted expansion', () => {
    expect(parse('A=$ENV_ONE')).toEqual({ A: 'hello  world' });
    expect(parse('export A=$ENV_ONE')).toEqual({ A: 'hello  world' });
  });

  it('supports ${VAR:-w}, ${VAR-w}, ${VAR:+w} and ${VAR+w}', () => {
    expect(
      parse('A=${NOPE:-d}${ENV_EMPTY:-e}${ENV_EMPTY-f}${NOPE-g}_${ENV_EMPTY:+h}${ENV_EMPTY+i}${NOPE+j}'),
    ).toEqual({ A: 'deg_i' });
  });

  it('expands quotes, variables and escapes in a default word like bash', () => {
    expect(parse(`A=\${NOPE:-'a b'"\${ENV_ONE}"c\\}}`)).toEqual({ A: 'a bhello  worldc}' });
    expect(parse('A="${NOPE:-a\\}b\\"c\\x}"')).toEqual({ A: 'a}b"c\\x' });
    expect(parse('A="${NOPE:-"q r"}" B=${NOPE:-x;y|z #w}')).toEqual({ A: 'q r', B: 'x;y|z #w' });
    // bash: a "…" nested in "${…}" drops every backslash; one nested in ${…} keeps the usual rules
    expect(parse('A="${NOPE-"\\a\\}"}" B=${NOPE-"\\a\\}"}')).toEqual({ A: 'a}', B: '\\a\\}' });
    expect(parse('A=${NOPE:-{b}x}')).toEqual({ A: '{bx}' });
    expect(parse('A=${NOPE:-${NOPE2:-$ENV_ONE}}')).toEqual({ A: 'hello  world' });
    expect(parse('A=${NOPE:-a\nb}')).toEqual({ A: 'a\nb' });
  });

  it('expands the default word only when it is used', () => {
    expect(parse('A=${ENV_ONE:-~}', { ENV_ONE: 'x' })).toEqual({ A: 'x' });
  });

  it('expands ~ to HOME at the start of a value and after an unquoted colon', () => {
    expect(parse('A=~ B=~/x C=x:~/y:~ D=${NOPE:-~/z} E=~:')).toEqual({
      A: '/home/oneadmin',
      B: '/home/oneadmin/x',
      C: 'x:/home/oneadmin/y:/home/oneadmin',
      D: '/home/oneadmin/z',
      E: '/home/oneadmin:',
    });
    expect(parse('HOME=/h\nexport A=~/x')).toEqual({ HOME: '/h', A: '/h/x' });
  });

  it('keeps ~ literal when quoted, escaped or inside a word', () => {
    expect(parse('A="~" B=\\~/x C=a~ D="x:"~/y E="${NOPE:-~}"')).toEqual({
      A: '~',
      B: '~/x',
      C: 'a~',
      D: 'x:~/y',
      E: '~',
    });
  });

  it('rejects ~ when HOME is unset, and ~name', () => {
    expect(errorOf('A=x\nB=x:~/y', {}).message).toBe(
      'kvmrc:2:5: ~ expands to $HOME, which is not set; write the path in full',
    );
    expectRejected('A=~root/x', 1, 3, '~root is not supported');
    expectRejected('A=x:~+', 1, 5, '~+ is not supported');
    expectRejected('A=~"/x"', 1, 3, '~" is not supported');
  });
});

describe('parseKvmrc: rejected constructs', () => {
  const never = 'kvmrc is read, never executed';

  it('rejects command substitution, backticks and arithmetic wherever they are', () => {
    expectRejected('A=1\nB=x$(id)', 2, 4, `command substitution $(…) is not allowed; ${never}`);
    expectRejected('B="x $(id)"', 1, 6, 'command substitution $(…)');
    expectRejected('B=${NOPE:-$(id)}', 1, 11, 'command substitution $(…)');
    expectRejected('B="${NOPE:-$(id)}"', 1, 12, 'command substitution $(…)');
    expectRejected('B=`id`', 1, 3, 'backtick command substitution');
    expectRejected('B="a`id`"', 1, 5, 'backtick command substitution');
    expectRejected('B=$((1+2))', 1, 3, 'arithmetic expansion $((…))');
    expectRejected('B=$[1+2]', 1, 3, 'arithmetic expansion $[…]');
    expectRejected('$(id)', 1, 1, 'command substitution');
    expectRejected('B=${NOPE:-<(id)}', 1, 11, 'process substitution <(…)');
    expectRejected('B=${NOPE:-x>(id)}', 1, 12, 'process substitution >(…)');
    expect(parse('B=${NOPE:-a<b>c(d)} C="${NOPE:-<(id)}"')).toEqual({ B: 'a<b>c(d)', C: '<(id)' });
  });

  it('rejects ${…} operators other than - :- + :+', () => {
    expectRejected('A=${X:=1}', 1, 6, '${X:=…} assigns or aborts');
    expectRejected('A=${X:?no}', 1, 6, '${X:?…} assigns or aborts');
    expectRejected('A=${X=1}', 1, 6, '${X=…} assigns or aborts');
    expectRejected('A=${X%.*}', 1, 6, '${X%…} is not supported');
    expectRejected('A=${X/a/b}', 1, 6, '${X/…} is not supported');
    expectRejected('A=${X:1}', 1, 6, '${X:1…} is not supported');
    expectRejected('A=${#X}', 1, 3, '(length) is not supported');
    expectRejected('A=${!X}', 1, 3, '(indirection) is not supported');
    expectRejected('A=${}', 1, 3, 'empty ${}');
    expectRejected('A=${1}', 1, 3, 'only variable names');
  });

  it('rejects special parameters and bash-only quoting', () => {
    expectRejected('A=$1', 1, 3, 'special parameter $1');
    expectRejected('A="$$"', 1, 4, 'special parameter $$');
    expectRejected('A=$_', 1, 3, 'special parameter $_');
    expectRejected("A=$'\\t'", 1, 3, "ANSI-C quoting $'…'");
    expectRejected('A=$"x"', 1, 3, 'locale quoting');
    expectRejected(`A="\${X:-'x'}"`, 1, 9, 'single quote inside');
  });

  it('rejects control flow, commands and sourcing', () => {
    expectRejected('if true; then A=1; fi', 1, 1, '`if` (control flow) is not allowed');
    expectRejected('A=1\n  for i in 1; do :; done', 2, 3, '`for` (control flow)');
    expectRejected('while :; do :; done', 1, 1, '`while` (control flow)');
    expectRejected('case x in esac', 1, 1, '`case` (control flow)');
    expectRejected('function f { :; }', 1, 1, '`function` (control flow)');
    expectRejected('{ A=1; }', 1, 1, '`{` (control flow)');
    expectRejected('source /etc/profile', 1, 1, '`source` is not allowed');
    expectRejected('. /etc/profile', 1, 1, '`.` is not allowed');
    expectRejected('echo hi', 1, 1, 'command `echo` is not allowed');
    expectRejected('foo', 1, 1, 'command `foo` is not allowed');
    expectRejected('A=1 B=2 rm -rf x', 1, 9, 'command `rm` after assignments is not allowed');
    expectRejected('"A"=1', 1, 1, 'invalid variable name `"A"`');
    expectRejected('f() { :; }', 1, 1, 'command `f`');
  });

  it('rejects invalid names', () => {
    expectRejected('1A=x', 1, 1, 'invalid variable name `1A`');
    expectRejected('A-B=x', 1, 1, 'invalid variable name `A-B`');
    expectRejected('A[1]=x', 1, 1, 'invalid variable name `A[1]`');
    expectRejected('export 1A=x', 1, 8, 'invalid variable name `1A`');
  });

  it('rejects export forms it does not support', () => {
    expectRejected('export', 1, 1, 'export with no name');
    expectRejected('export -n A', 1, 8, 'export options (`-n`)');
    expectRejected('export "A"', 1, 8, 'export takes NAME or NAME=value, found `"A"`');
    expectRejected('export A=x{a,b}', 1, 11, 'brace-expanded');
    expectRejected('A=1 export B=2', 1, 5, 'command `export` after assignments');
  });

  it('rejects pipes, &, redirections and parentheses', () => {
    expectRejected('A=1 | cat', 1, 5, 'pipe |');
    expectRejected('A=1 || B=2', 1, 5, 'control operator ||');
    expectRejected('A=1 && B=2', 1, 5, 'control operator &&');
    expectRejected('A=1 &', 1, 5, 'background operator &');
    expectRejected('A=1 >/tmp/x', 1, 5, 'redirection >');
    expectRejected('A=x>>y', 1, 4, 'redirection >>');
    expectRejected('A=1 </dev/null', 1, 5, 'redirection <');
    expectRejected('A=(1 2)', 1, 3, 'parenthesis (');
    expectRejected('A=1)', 1, 4, 'parenthesis )');
  });

  it('reports an unterminated quote or ${ where it opened', () => {
    expectRejected('A=1\nB="abc\n\nC=2', 2, 3, 'unterminated double quote');
    expectRejected("A=x'abc", 1, 4, 'unterminated single quote');
    expectRejected('A=${X', 1, 3, 'unterminated ${…}');
    expectRejected('A=${X:-abc', 1, 3, 'unterminated ${…}');
    expectRejected('A="${X:-abc', 1, 4, 'unterminated ${…}');
    expectRejected('A="${X:-abc"', 1, 12, 'unterminated double quote');
  });

  it('rejects CRLF line endings and NUL bytes', () => {
    expectRejected('A=1\r\n', 1, 4, 'carriage return');
    expectRejected('A=1\nB=x\0y', 2, 4, 'NUL byte');
    expect(parse("A='x\r'")).toEqual({ A: 'x\r' });
  });

  it('never runs what it rejects', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvmrc-canary-'));
    try {
      const canary = join(dir, 'xyz-canary');
      for (const text of [`A=$(touch ${canary})`, `A="\`touch ${canary}\`"`, `touch ${canary}`]) {
        expect(() => parse(text)).toThrow(ParseError);
      }
      expect(existsSync(canary)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// --- bash as the oracle -------------------------------------------------------------------------

let workDir = '';
beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'kvmrc-bash-'));
});
afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

// Sources the text with `set -a; . FILE` in a clean env and returns bash's exported variables.
function sourceWithBash(text: string, env: Record<string, string>): Map<string, string> {
  const file = join(workDir, 'kvmrc');
  writeFileSync(file, text);
  const result = spawnSync('/bin/bash', ['-c', 'set -a; . "$1"; exec /usr/bin/env -0', '_', file], {
    env,
    cwd: workDir,
  });
  expect(result.stderr.toString()).toBe('');
  expect(result.status).toBe(0);
  const vars = new Map<string, string>();
  for (const entry of result.stdout.toString('utf8').split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) vars.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return vars;
}

interface Generated {
  readonly text: string;
  readonly assigned: readonly string[];
  readonly marked: readonly string[];
}

// Compares the parser with bash on one file: same values, and every assigned name in both.
function expectSameAsBash(file: Generated, env: Record<string, string>): void {
  const parsed = parseKvmrc(file.text, { file: 'kvmrc', env });
  const bash = sourceWithBash(file.text, env);
  for (const [name, value] of Object.entries(parsed)) expect([name, value]).toEqual([name, bash.get(name)]);
  for (const name of file.assigned) expect(name in parsed && bash.has(name)).toBe(true);
  for (const name of file.marked) expect([name, name in parsed]).toEqual([name, bash.has(name)]);
  for (const name of Object.keys(parsed))
    expect(file.assigned.includes(name) || file.marked.includes(name)).toBe(true);
}

// A grammar of the supported kvmrc subset.
const POOL = ['A', 'B1', 'kv_x', '_u', 'LONG_NAME_2', 'HOME'];
const REFS = [...POOL, 'PATH', 'ENV_ONE', 'ENV_EMPTY', 'NOPE'];
const name = fc.constantFrom(...POOL.slice(0, -1), ...POOL);
const ref = fc.constantFrom(...REFS);
const op = fc.constantFrom('-', ':-', '+', ':+');
const join$ = (parts: string[]): string => parts.join('');

// Unquoted characters that are literal in an assignment value (`{` only outside export).
const unquotedChar = (inExport: boolean): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(
      'a',
      'Z',
      '0',
      '_',
      '-',
      '.',
      '/',
      ',',
      '%',
      '+',
      '=',
      '@',
      '^',
      ']',
      '[',
      '*',
      '?',
      '!',
      '}',
    ),
    fc.constantFrom('é', '漢', '😀', '#', ':', 'x~', ':~/', '$%', '$/', ...(inExport ? [] : ['{', '{a,b}'])),
    fc.constantFrom(
      '\\ ',
      "\\'",
      '\\"',
      '\\$',
      '\\`',
      '\\\\',
      '\\;',
      '\\|',
      '\\&',
      '\\<',
      '\\>',
      '\\(',
      '\\)',
    ),
    fc.constantFrom('\\#', '\\~', '\\{', '\\\n', '\\\t', '\\a', '\\é'),
  );
const singleQuoted = fc
  .array(
    fc.constantFrom(
      'a',
      ' ',
      '\n',
      '\\',
      '"',
      '$',
      '`',
      '#',
      ';',
      '|',
      '~',
      '{',
      '}',
      'é',
      '😀',
      '\t',
      '$(x)',
    ),
    {
      maxLength: 6,
    },
  )
  .map((chars) => `'${join$(chars)}'`);

// The inside of "…"; inBrace: the default word of a ${…} that is itself inside "…".
const doubleBody = (depth: number, inBrace: boolean): fc.Arbitrary<string> =>
  fc
    .array(
      fc.oneof(
        fc.constantFrom('a', ' ', '\n', '#', ';', '|', '~', '{', 'é', '😀', '(', ')', ':', '\t'),
        fc.constantFrom('\\"', '\\\\', '\\$', '\\`', '\\\n', '\\a', '$ ', '$%', '$/'),
        inBrace ? fc.constantFrom('\\}', "\\'") : fc.constantFrom("'", '}', "$'"),
        // bash 5.2 mis-expands "${U-$A"x"}" (the parser rejects it), so only ${A} there
        ...(depth > 0 ? [reference(depth - 1, true, inBrace)] : []),
        ...(depth > 0 && inBrace ? [doubleQuoted(0, false)] : []),
      ),
      { maxLength: 5 },
    )
    .map(join$);
const doubleQuoted = (depth: number, inBrace: boolean): fc.Arbitrary<string> =>
  doubleBody(depth, inBrace).map((body) => `"${body}"`);

// The default word of an unquoted ${NAME<op>…}.
const unquotedDefault = (depth: number): fc.Arbitrary<string> =>
  fc
    .tuple(
      fc.constantFrom('', '', '~/', '~'),
      fc.array(
        fc.oneof(
          // no `(`: <(…) there is process substitution (rejected)
          fc.constantFrom('a', ' ', ';', '|', '#', '{', '&', '<', ')', 'é', '\n', ':~/', '\\}', '\\a', '\\ '),
          fc.constantFrom('\\\\', '\\$'),
          singleQuoted.map((s) => s.replaceAll('}', '')),
          doubleQuoted(0, false).map((s) => s.replace(/}/g, '')),
          ...(depth > 0 ? [reference(depth - 1, false)] : []),
        ),
        { maxLength: 4 },
      ),
    )
    .map(([tilde, parts]) => (tilde === '~' ? (parts.length === 0 ? '~' : '~/') : tilde) + join$(parts));

// $NAME, ${NAME} or ${NAME<op>word}; `quoted`: inside "…".
function reference(depth: number, quoted: boolean, bracedOnly = false): fc.Arbitrary<string> {
  return fc.oneof(
    ref.map((n) => (bracedOnly ? `\${${n}}` : `$${n}`)),
    ref.map((n) => `\${${n}}`),
    fc
      .tuple(ref, op, quoted ? doubleBody(depth, true) : unquotedDefault(depth))
      .map(([n, o, word]) => `\${${n}${o}${word}}`),
  );
}

const value = (inExport: boolean): fc.Arbitrary<string> =>
  fc
    .tuple(
      fc.constantFrom('', '', '', '~', '~/'),
      fc.array(
        fc.oneof(
          fc.array(unquotedChar(inExport), { minLength: 1, maxLength: 4 }).map(join$),
          singleQuoted,
          doubleQuoted(2, false),
          reference(2, false),
        ),
        { maxLength: 4 },
      ),
    )
    .map(([tilde, parts]) => (tilde === '~' ? (parts.length === 0 ? '~' : '~/') : tilde) + join$(parts));

interface Statement {
  readonly text: string;
  readonly assigned: string[];
  readonly marked: string[];
}

const separator = fc.constantFrom(' ', '\t', '  ', ' \\\n');
const assignment = (inExport: boolean): fc.Arbitrary<Statement> =>
  fc
    .tuple(name, fc.constantFrom('=', '=', '+='), value(inExport))
    .map(([n, eq, v]) => ({ text: `${n}${eq}${v}`, assigned: [n], marked: [] }));
const exportArg = fc.oneof(
  assignment(true),
  ref.map((n) => ({ text: n, assigned: [], marked: [n] })),
);
const joinStatements = (prefix: string, list: Statement[], seps: string[]): Statement => ({
  text: prefix + list.map((s, i) => (i === 0 ? '' : (seps[i] ?? ' ')) + s.text).join(''),
  assigned: list.flatMap((s) => s.assigned),
  marked: list.flatMap((s) => s.marked),
});
const statement: fc.Arbitrary<Statement> = fc.oneof(
  fc
    .tuple(fc.array(assignment(false), { minLength: 1, maxLength: 3 }), fc.array(separator, { maxLength: 3 }))
    .map(([list, seps]) => joinStatements('', list, seps)),
  fc
    .tuple(fc.array(exportArg, { minLength: 1, maxLength: 3 }), fc.array(separator, { maxLength: 3 }))
    .map(([list, seps]) => joinStatements('export ', list, seps)),
);
const commentText = fc
  .array(fc.constantFrom('a', ' ', '$(touch x)', '`id`', "'", '"', '\\', '#', 'é'), { maxLength: 5 })
  .map(join$);
const line: fc.Arbitrary<Statement> = fc.oneof(
  fc.constantFrom('', '  ', '\t').map((text) => ({ text, assigned: [], marked: [] })),
  commentText.map((c) => ({ text: `# ${c}`, assigned: [], marked: [] })),
  fc
    .tuple(
      fc.constantFrom('', ' ', '\t'),
      fc.array(statement, { minLength: 1, maxLength: 2 }),
      fc.constantFrom('', '', ';', ' ;'),
      fc.option(commentText, { nil: undefined }),
    )
    .map(([indent, list, end, comment]) => {
      const joined = joinStatements(
        indent,
        list,
        list.map(() => '; '),
      );
      const tail = comment === undefined ? '' : ` # ${comment}`;
      return { ...joined, text: joined.text + end + tail };
    }),
);
const kvmrcFile: fc.Arbitrary<Generated> = fc
  .tuple(fc.array(line, { minLength: 1, maxLength: 8 }), fc.boolean())
  .map(([lines, finalNewline]) => ({
    text: lines.map((l) => l.text).join('\n') + (finalNewline ? '\n' : ''),
    assigned: lines.flatMap((l) => l.assigned),
    marked: lines.flatMap((l) => l.marked),
  }));

// KVMRC_BASH_RUNS=20000 for a longer search.
const BASH_RUNS = Number(process.env.KVMRC_BASH_RUNS ?? 200);

describe('parseKvmrc compared with bash `set -a; . FILE`', () => {
  it(
    'agrees with bash on generated kvmrc files',
    () => {
      fc.assert(
        fc.property(kvmrcFile, (file) => {
          expectSameAsBash(file, ENV);
        }),
        { numRuns: BASH_RUNS },
      );
    },
    30_000 + BASH_RUNS * 20,
  );

  it('agrees with bash on the shipped kvmrc', () => {
    const text = readFileSync(SHIPPED, 'utf8');
    const assigned = [...text.matchAll(/^(?:export )?([A-Za-z_][A-Za-z0-9_]*)=/gm)].map((m) => m[1] ?? '');
    expect(assigned.length).toBeGreaterThan(15);
    expectSameAsBash({ text, assigned, marked: [] }, ENV);
    const vars = parseKvmrc(text, { file: SHIPPED, env: ENV });
    expect({ ...vars }).toMatchObject({
      LANG: 'C',
      LIBVIRT_URI: 'qemu:///system',
      QEMU_PROTOCOL: 'qemu+ssh',
      LIBVIRT_MD_URI: 'http://opennebula.org/xmlns/libvirt/1.0',
      LIBVIRT_MD_KEY: 'one',
      SHUTDOWN_TIMEOUT: '180',
      SYNC_TIME: 'yes',
      FORCE_DESTROY: 'yes',
      VIRSH_RETRIES: '3',
      VIRSH_TIMEOUT: '60',
      CLEANUP_MEMORY_ON_STOP: 'no',
      DEFAULT_ATTACH_CACHE: 'none',
      DEFAULT_ATTACH_DISCARD: 'unmap',
      DEFAULT_ATTACH_NIC_MODEL: 'virtio',
      OVMF_NVRAM: '/usr/share/OVMF/OVMF_VARS.fd',
      SSH_HOST_KEY_POLICY: 'strict',
      SSH_CONNECT_TIMEOUT: '10',
      SSH_MAX_CHANNELS: '9',
      VIRSH_SHELLS: '4',
      COMMAND_TIMEOUT: '60',
      SHUTDOWN_RESEND: '10',
      TM_TIMEOUT: '3600',
    });
    // Defaults that come from ~/.ssh/config or the agent are left unset, so the file does not override them.
    for (const unset of [
      'SSH_USER',
      'SSH_PORT',
      'SSH_IDENTITY',
      'SSH_KNOWN_HOSTS',
      'CANCEL_NO_ACPI',
      'MIGRATE_OPTIONS',
    ]) {
      expect(vars[unset]).toBeUndefined();
    }
  });
});
