import { defineConfig } from 'vitest/config';

// End-to-end tests against the testbed (real sshd, libvirtd, QEMU, guests). Files run one after
// the other: fault tests take links and daemons down.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
