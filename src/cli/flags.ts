// Reads a flag given with a value (`--name value` or `--name=value`) from the executables' flag map.
export function flagValueOf(flags: ReadonlyMap<string, string | true>, name: string): string | undefined {
  const value = flags.get(name);
  return typeof value === 'string' ? value : undefined;
}
