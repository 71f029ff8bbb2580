#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`, clang) and runs each for SECONDS.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 seconds, every target)
#
# Each target starts from the committed seeds in fuzz/corpus/<target>/, read-only: what it
# discovers goes to a scratch corpus under build/fuzz/run/, never into the repository.
# Prints one line per target (executions, exec/s, corpus growth) and exits non-zero on
# any crash, leak, timeout or out-of-memory, keeping the input under build/fuzz/crashes/
# and printing the command that reproduces it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(meta_parser classic_parser codec_decode server_address)
jobs=${JOBS:-2}

build=build/fuzz
cmake --preset fuzz >/dev/null
cmake --build "$build" --target fuzzers -j "$jobs"

crashes=$build/crashes
mkdir -p "$crashes" "$build/logs"
# Crashes abort at once with a symbolized stack; leaks are checked at exit (libFuzzer's
# -detect_leaks is on by default under ASan).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:symbolize=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=0
for target in "${targets[@]}"; do
  binary=$build/fuzz/fuzz_$target
  seeds=fuzz/corpus/$target
  [ -x "$binary" ] && [ -d "$seeds" ] || { echo "fuzz: unknown target '$target'" >&2; exit 2; }
  scratch=$build/run/$target
  rm -rf "$scratch"
  mkdir -p "$scratch"
  log=$build/logs/$target.log
  dict=()
  [ -f "fuzz/$target.dict" ] && dict=(-dict="fuzz/$target.dict")
  started=$build/run/$target.started
  touch "$started"
  # The first corpus directory receives new inputs; the committed seeds are only read.
  # -timeout: no input of a few KiB needs seconds, so one that does is a hang worth a look.
  status=0
  "$binary" "$scratch" "$seeds" "${dict[@]}" \
    -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
    -max_len=8192 -artifact_prefix="$crashes/$target-" >"$log" 2>&1 || status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$scratch" -type f | wc -l)
  printf 'fuzz: %-15s %12s executions  %8s exec/s  %5s new inputs  %s\n' \
    "$target" "${executions:-?}" "${rate:-?}" "$corpus" "$([ "$status" -eq 0 ] && echo ok || echo FAILED)"
  found=$(find "$crashes" -maxdepth 1 -name "$target-*" -newer "$started")
  if [ "$status" -ne 0 ] || [ -n "$found" ]; then
    failed=1
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*invariant violated|.*runtime error)' "$log" | head -5 >&2 || true
    echo "fuzz: $target failed (exit $status); full output in $log" >&2
    for input in $found; do
      echo "fuzz: reproduce with: $binary $input" >&2
    done
  fi
done
exit "$failed"
