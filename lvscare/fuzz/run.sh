#!/usr/bin/env bash
# Builds lvscare's fuzz targets (libFuzzer, AddressSanitizer) with the stable toolchain, runs
# each for a bounded time from its committed seeds, prints a table, and fails on any crash,
# leak, out-of-memory (one allocation over the malloc limit counts) or slow input.
#   lvscare/fuzz/run.sh [TARGET...]    default: every target in fuzz_targets/
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_JOBS     targets run at once (default 2)
#   FUZZ_WORK     grown corpora, logs, crash inputs and the build (default /var/cache/seal-fuzz)
#   FUZZ_TARGET_DIR  the build alone (default $FUZZ_WORK/target)
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
work=${FUZZ_WORK:-/var/cache/seal-fuzz}
triple=x86_64-unknown-linux-gnu
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
# libFuzzer takes 0 as "no limit".
if ! [ "$seconds" -ge 1 ] 2>/dev/null; then
  echo "run.sh: FUZZ_SECONDS must be a whole number of seconds, at least 1" >&2
  exit 2
fi
mkdir -p "$work"

# The instrumentation cargo-fuzz adds, as plain rustc flags. -Zsanitizer is the only unstable
# one; RUSTC_BOOTSTRAP lets the stable compiler take it (its ASan runtime ships with stable),
# and the sanitizer's allocator hooks are what make -malloc_limit_mb work at all.
# Debug assertions and overflow checks make an overflow a crash too, as in lvscare's tests.
# --target keeps these flags off build scripts and proc macros, as cargo-fuzz does.
export RUSTC_BOOTSTRAP=1
flags=(
  -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks
  -Zsanitizer=address -Cunsafe-allow-abi-mismatch=sanitizer -Cforce-frame-pointers
)
export RUSTFLAGS="${flags[*]}"
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$work/target}
start=$(date +%s)
cargo build --locked --release --target "$triple" --bins
echo "fuzz: built the targets in $(($(date +%s) - start)) s" >&2
bin=$CARGO_TARGET_DIR/$triple/release

# One target: its grown corpus first (libFuzzer adds new inputs there), the seeds second.
run_one() {
  local t=$1
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  "$bin/$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
    -rss_limit_mb=1536 -malloc_limit_mb=64 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$t/" "$work/corpus/$t" "seeds/$t" \
    >"$work/$t.log" 2>&1
}

# At most $jobs at once; each one's exit status lands in $work/$t.rc.
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  (
    rc=0
    run_one "$t" || rc=$?
    echo "$rc" >"$work/$t.rc"
  ) &
done
wait

# The table: executions and final corpus size from libFuzzer's own report, and the verdict.
failed=0
printf '%-16s %12s %8s  %s\n' target executions corpus result
for t in "${targets[@]}"; do
  log=$work/$t.log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1 || true)
  corpus=$(grep -o 'corp: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2 || true)
  result=ok
  if [ "$(cat "$work/$t.rc")" != 0 ]; then
    failed=1
    case "$(cat "$log")" in
      *"libFuzzer: out-of-memory"*) result=oom ;;
      *"libFuzzer: timeout"*) result=timeout ;;
      *LeakSanitizer*) result=leak ;;
      *) result=crash ;;
    esac
    result="$result (log $log, input in $work/artifacts/$t/)"
  fi
  printf '%-16s %12s %8s  %s\n' "$t" "${execs:-?}" "${corpus:-?}" "$result"
done
if [ "$failed" != 0 ]; then
  for t in "${targets[@]}"; do
    if [ "$(cat "$work/$t.rc")" != 0 ]; then
      echo "--- $t: end of $work/$t.log" >&2
      tail -n 40 "$work/$t.log" >&2
    fi
  done
  echo "fuzz: FAILED" >&2
  exit 1
fi
