import { describe, expect, it } from 'vitest';
import { matchHostPatterns, matchPatternList, matchWildcard } from '../../src/host/host-patterns.js';

describe('matchWildcard', () => {
  it.each([
    ['abc', 'abc', true],
    ['abc', 'ab', false],
    ['abc', 'a*', true],
    ['abc', '*', true],
    ['', '*', true],
    ['', '?', false],
    ['abc', 'a?c', true],
    ['abc', '?', false],
    ['a.b.c', '*.c', true],
    ['a.b.c', '*.b', false],
    ['aXbXc', 'a*b*c', true],
    ['abcbc', '*bc', true],
    ['[h]:2222', '[h]:2222', true],
    ['[h]:2222', '[*]:2222', true],
    ['[h]:22', '[*]:2222', false],
  ])('%j against %j → %s', (text, pattern, expected) => {
    expect(matchWildcard(text, pattern)).toBe(expected);
  });
});

describe('matchHostPatterns', () => {
  it('matches when a pattern matches and no negated one does', () => {
    expect(matchHostPatterns('a.lab', ['*.lab', '!bad.lab'])).toBe(true);
    expect(matchHostPatterns('bad.lab', ['*.lab', '!bad.lab'])).toBe(false);
    expect(matchHostPatterns('bad.lab', ['!bad.lab', '*.lab'])).toBe(false);
    expect(matchHostPatterns('other', ['!bad.lab'])).toBe(false);
    expect(matchHostPatterns('x', [])).toBe(false);
  });

  it('ignores case for hosts but not for user names', () => {
    expect(matchHostPatterns('NODE1', ['node?'])).toBe(true);
    expect(matchPatternList('Root', ['root'])).toBe(false);
    expect(matchPatternList('oneadmin', ['one*', '!root'])).toBe(true);
  });
});
