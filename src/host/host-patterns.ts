// OpenSSH host pattern lists (known_hosts host fields, ssh_config `Host`): `*`, `?` and `!` negation.

// True when some pattern matches the host `name` and no negated one does; case-insensitive, as ssh compares hosts.
export function matchHostPatterns(name: string, patterns: readonly string[]): boolean {
  return matchPatternList(
    name.toLowerCase(),
    patterns.map((pattern) => pattern.toLowerCase()),
  );
}

// The same for names compared exactly (user names).
export function matchPatternList(name: string, patterns: readonly string[]): boolean {
  let matched = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    if (!matchWildcard(name, negated ? pattern.slice(1) : pattern)) continue;
    if (negated) return false; // a matching negated pattern rules the whole list out
    matched = true;
  }
  return matched;
}

// OpenSSH's match_pattern: `*` is any run of characters, `?` any one character.
export function matchWildcard(text: string, pattern: string): boolean {
  let t = 0;
  let p = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const c = pattern[p];
    if (c === '*') {
      starP = p++;
      starT = t;
    } else if (c !== undefined && (c === '?' || c === text[t])) {
      p++;
      t++;
    } else if (starP >= 0) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
