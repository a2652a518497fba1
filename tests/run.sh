#!/usr/bin/env bash
# `make test`: the whole suite, and beside it the short chaos run (issue 16: 1,000 journal items,
# one fault of each kind) on a stack of its own, in a private network namespace so that both
# stacks keep their fixed ports. Where no namespace can be made (no root, no user namespaces),
# the chaos run follows the suite instead. The exit status fails if either fails.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
chaos_log=var/chaos-short.log
chaos_rc=var/chaos-short.rc
rm -f "$chaos_rc"

short_chaos() {
  rm -rf var/chaos-short
  VESTNIK_VAR_DIR="$PWD/var/chaos-stack" make --no-print-directory chaos-short
}

namespace=()
for candidate in "unshare -n" "unshare -rn"; do
  if command -v ip >/dev/null && $candidate true 2>/dev/null; then
    read -r -a namespace <<<"$candidate"
    break
  fi
done

if ((${#namespace[@]})); then
  echo "the short chaos run goes on beside the suite: $chaos_log"
  export -f short_chaos
  ("${namespace[@]}" bash -c 'ip link set lo up && short_chaos' >"$chaos_log" 2>&1
    echo $? >"$chaos_rc") &
fi

# Two processes share the servers (see tests/conftest.py): most tests wait on services, Kafka
# and the store, not on a core. Then, alone, the few that stop and start the broker.
# TEST_WORKERS=0 runs everything in one process.
workers=${TEST_WORKERS:-2}
if [[ $workers == 0 ]]; then
  .venv/bin/pytest -v --durations=25 "$@"
  suite=$?
else
  .venv/bin/pytest -v --durations=25 -n "$workers" --dist worksteal -m "not stops_kafka" "$@"
  shared=$?
  .venv/bin/pytest -v -m stops_kafka "$@"
  alone=$?
  # 5: a selection left empty by the arguments (naming only tests of the other kind).
  ((shared == 5)) && shared=0
  ((alone == 5)) && alone=0
  suite=$((shared != 0 ? shared : alone))
fi

if ((${#namespace[@]})); then
  wait
else
  echo "the short chaos run, after the suite: $chaos_log"
  short_chaos >"$chaos_log" 2>&1
  echo $? >"$chaos_rc"
fi
chaos=$(cat "$chaos_rc" 2>/dev/null || echo 1)
echo
echo "=== the short chaos run (exit $chaos) ==="
report=$(ls -t var/chaos-short/*.md 2>/dev/null | head -1)
if [[ -n $report ]]; then cat "$report"; else tail -40 "$chaos_log"; fi
((suite == 0 && chaos == 0))
