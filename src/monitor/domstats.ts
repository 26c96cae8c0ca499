// Parses `virsh domstats` output into one record per domain.
export interface DomainStats {
  readonly name: string;
  readonly values: ReadonlyMap<string, string>;
}

// "Domain: 'one-5'" followed by indented "key=value" lines; a blank line between domains.
export function parseDomstats(output: string): DomainStats[] {
  const domains: DomainStats[] = [];
  let current: Map<string, string> | undefined;
  for (const line of output.split('\n')) {
    const header = /^Domain: '(.*)'\s*$/.exec(line);
    if (header !== null) {
      current = new Map();
      domains.push({ name: header[1] ?? '', values: current });
      continue;
    }
    const eq = line.indexOf('=');
    if (current === undefined || eq < 0) continue;
    current.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return domains;
}
