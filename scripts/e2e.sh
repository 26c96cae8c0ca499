#!/usr/bin/env bash
# The end-to-end suites (npm run test:e2e, and the last part of npm test): the testbed suite
# (test/e2e/*.test.ts) and the real-oned suite (test/e2e/oned/), one file after the other.
# Whatever this run brought up (the testbed's hosts, the real oned and its hosts) it takes down
# again; what was running before is left running, and the last line says so and how to stop it.
# Without the OpenNebula kit the real-oned suite does not run, and one line says why.
# Extra arguments go to vitest (e.g. a file filter).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TB_MAIN_DIR=${TB_DIR:-/tmp/onevmm-tb}
KIT_DIR=${ONEVMM_ONED_KIT:-$(cd .. && pwd)/shared/oned}

main_up() { bash testbed/testbed.sh status >/dev/null 2>&1; }
kit_up() { bash testbed/oned-kit.sh status >/dev/null 2>&1; }
main_was_up=no; main_up && main_was_up=yes
kit_was_up=no; kit_up && kit_was_up=yes

args=(run --config vitest.e2e.config.ts)
if [[ -x $KIT_DIR/oned.sh && -f $KIT_DIR/one-fe.tar.xz ]]; then
  kit_note=''
else
  kit_note="real-oned suite: not run: no OpenNebula front-end kit at $KIT_DIR (oned.sh, one-fe.tar.xz); set ONEVMM_ONED_KIT"
  args+=(--exclude 'test/e2e/oned/**' --passWithNoTests)
fi

npx vitest "${args[@]}" "$@"
status=$?

[[ -n $kit_note ]] && echo "$kit_note"
running=()
stop() { # stop NAME COMMAND...: stop what this run started; say what still runs
  local name=$1; shift
  if "$@" >/dev/null 2>&1; then return 0; fi
  running+=("$name (could not stop it: $*)")
}
if kit_up; then
  if [[ $kit_was_up == no ]]; then stop "the real oned and its hosts" bash testbed/oned-kit.sh down
  else running+=("the real oned and its hosts, as before this run (bash testbed/oned-kit.sh down)"); fi
fi
if main_up; then
  if [[ $main_was_up == no ]]; then stop "the testbed in $TB_MAIN_DIR" bash testbed/testbed.sh down
  else running+=("the testbed in $TB_MAIN_DIR, as before this run (npm run testbed -- down)"); fi
fi
if ((${#running[@]} == 0)); then
  echo "e2e: no test host left running (this run stopped the ones it started)"
else
  printf -v joined '%s; ' "${running[@]}"
  echo "e2e: still running: ${joined%; }"
fi
exit "$status"
