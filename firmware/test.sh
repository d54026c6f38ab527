#!/usr/bin/env bash
# Builds the firmware under AddressSanitizer + UndefinedBehaviorSanitizer, runs the C unit tests
# (CTest) and the WebAssembly spec scripts through the engine's spec runner.
#   firmware/test.sh            (npm run test:firmware)
# Vectors: $PROPELLER_VECTORS/wasm-spec, else ../shared/vectors/wasm-spec beside the repo. Missing
# vectors fail under CI=true and are skipped with a message otherwise. Any spec failure fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
build="$here/build/asan"

for tool in cmake wast2json node; do
  command -v "$tool" >/dev/null || { echo "firmware/test.sh: $tool is not installed" >&2; exit 1; }
done
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
[ -f "$build/CMakeCache.txt" ] && gen=() # keep the generator the build folder was made with
if [ -z "${CC:-}" ] && ! command -v cc >/dev/null; then export CC=clang; fi

echo "== firmware: build (ASan + UBSan)"
cmake -S "$here" -B "$build" -DPW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug "${gen[@]}" >/dev/null
cmake --build "$build" -j2

echo "== firmware: unit tests (CTest)"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir "$build" --output-on-failure

vectors="${PROPELLER_VECTORS:-$repo/../shared/vectors}/wasm-spec"
if [ ! -d "$vectors" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "firmware/test.sh: no spec vectors at $vectors (required under CI=true)" >&2
    exit 1
  fi
  echo "== firmware: spec vectors not found at $vectors: spec run SKIPPED (set PROPELLER_VECTORS)"
  exit 0
fi

echo "== firmware: wast2json with the Wasm 3.0 pre-pass over $vectors"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# shellcheck disable=SC2016
find "$vectors" -maxdepth 1 -name '*.wast' -print0 | sort -z |
  xargs -0 -P 2 -I{} node "$here/engine/test/wast_prepass.mjs" {} "$work" 2>&1 | sed 's/^/  /' ||
  { echo "firmware/test.sh: the wast pre-pass failed" >&2; exit 1; }

echo "== firmware: spec runner"
"$build/engine/spec_runner" "$work"/*/*.json

# Fuzzing for a bounded time (FUZZ_SECONDS per target, default 15): the Wasm loader and the
# message path (parser, lease, chunk assembler), from the kept corpus in firmware/fuzz/corpus
# (read only: what the run finds goes to a temporary directory).
seconds="${FUZZ_SECONDS:-15}"
if ! command -v clang >/dev/null; then
  [ "${CI:-}" = "true" ] && { echo "firmware/test.sh: clang is needed for the fuzz targets" >&2; exit 1; }
  echo "== firmware: clang not installed: fuzzing SKIPPED"
  exit 0
fi
echo "== firmware: libFuzzer, ${seconds} s per target"
fuzz_build="$here/build/fuzz"
fgen=()
command -v ninja >/dev/null && [ ! -f "$fuzz_build/CMakeCache.txt" ] && fgen=(-G Ninja)
CC=clang cmake -S "$here" -B "$fuzz_build" -DPW_FUZZ=ON "${fgen[@]}" >/dev/null
cmake --build "$fuzz_build" -j2 --target fuzz_load fuzz_message
for target in load message; do
  mkdir -p "$work/fuzz-$target"
  "$fuzz_build/fuzz/fuzz_$target" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/fuzz-$target/" "$work/fuzz-$target" "$here/fuzz/corpus/$target" 2>"$work/fuzz-$target.log" ||
    { tail -40 "$work/fuzz-$target.log"; echo "firmware/test.sh: fuzz_$target found a failure" >&2; exit 1; }
  grep -E "^stat::number_of_executed_units|^Done" "$work/fuzz-$target.log" | sed "s/^/  fuzz_$target: /"
done
