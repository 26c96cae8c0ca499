// Sorts failed host commands into what an action can act on: the domain is gone, it is not running, the host
// (ssh, libvirtd) could not be reached, a time limit was hit, the run was cancelled, or anything else.
import { CommandError, TransportError } from './errors.js';

export type FailureKind = 'not-found' | 'not-running' | 'transport' | 'timeout' | 'cancelled' | 'other';

// Refusals that no retry will cure, even when they arrive in a "could not connect" message.
const NOT_TRANSIENT = [
  /permission denied/i,
  /authentication (failed|unavailable)/i,
  /host key verification failed/i,
];

// libvirtd stopped, restarting or unreachable, and broken ssh/socket connections: worth retrying.
const TRANSPORT = [
  /failed to connect to the hypervisor/i,
  /failed to connect socket to/i,
  /no connection driver available/i,
  /unable to connect to server/i,
  /cannot recv data/i,
  /cannot write data/i,
  /end of file while reading data/i,
  /disconnected from .* due to/i,
  /client socket is closed/i,
  /connection closed due to keepalive timeout/i,
  /connection reset by peer/i,
  /connection refused/i,
  /connection timed out/i,
  /broken pipe/i,
  /no route to host/i,
  /network is unreachable/i,
  /ssh: connect to host/i,
  /kex_exchange_identification/i,
  /(libvirtd|virtqemud)\b.*\b(restarting|shutting down|not running|stopped)/i,
];

const NOT_FOUND = [
  /failed to get domain/i,
  /domain not found/i,
  /no domain with matching (name|uuid|id)/i,
  /domain '[^']*' does not exist/i,
];

const NOT_RUNNING = [
  /domain is not running/i,
  /domain '[^']*' (is )?not running/i,
  /domain is no longer running/i,
];

const TIMED_OUT = [/timed out during operation/i];

// Exit codes of `timeout` on the host: 124 after TERM, 137 (128 + KILL) after --kill-after.
const TIMEOUT_EXIT_CODES = new Set([124, 137]);

// Classifies a failed command from its exit code and stderr (virsh prints libvirt's errors there).
export function classifyOutput(stderr: string, exitCode: number | null): FailureKind {
  if (exitCode !== null && TIMEOUT_EXIT_CODES.has(exitCode)) return 'timeout';
  // Transport first: a broken connection can be followed by a misleading "failed to get domain".
  if (NOT_TRANSIENT.some((re) => re.test(stderr))) return 'other';
  if (TRANSPORT.some((re) => re.test(stderr))) return 'transport';
  if (NOT_FOUND.some((re) => re.test(stderr))) return 'not-found';
  if (NOT_RUNNING.some((re) => re.test(stderr))) return 'not-running';
  if (TIMED_OUT.some((re) => re.test(stderr))) return 'timeout';
  return 'other';
}

// Classifies anything a runner threw.
export function classifyError(error: unknown): FailureKind {
  if (error instanceof TransportError) {
    // A refused host key or login will not change by retrying.
    return error.failure === 'host-key' || error.failure === 'auth' ? 'other' : 'transport';
  }
  if (error instanceof CommandError) {
    switch (error.reason) {
      case 'timeout':
        return 'timeout';
      case 'cancelled':
        return 'cancelled';
      case 'exit':
      case 'signal':
        return classifyOutput(error.stderr, error.exitCode);
      default:
        return 'other';
    }
  }
  if (error instanceof Error && error.name === 'AbortError') return 'cancelled';
  return 'other';
}

// Only transport failures are retried.
export function isRetryable(error: unknown): boolean {
  return classifyError(error) === 'transport';
}
