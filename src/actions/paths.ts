// Paths on the host.

// The directory part of an absolute path ('/' for a file at the root).
export function parentDirectory(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}
