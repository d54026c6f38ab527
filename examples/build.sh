#!/bin/sh
# Rebuilds the example workloads from their C sources with Debian's clang + wasi-libc
# (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32). The built .wasm files are
# committed next to their sources, so nothing else needs a C toolchain.
set -eu
cd "$(dirname "$0")"
# Optional output directory (the test that checks the committed .wasm files builds into a temp dir).
OUT="${1:-.}"
mkdir -p "$OUT/hello" "$OUT/primes" "$OUT/add" "$OUT/fl"
CC="${CC:-clang}"
# clang runs binaryen's wasm-opt after linking whenever one is on PATH (npm packages such as jco
# bring one into node_modules/.bin): the output would then depend on who runs the script. Keep the
# build reproducible by leaving such directories out.
CLEAN_PATH=""
IFS_SAVED="$IFS"; IFS=":"
for dir in $PATH; do
  [ -x "$dir/wasm-opt" ] && continue
  CLEAN_PATH="${CLEAN_PATH:+$CLEAN_PATH:}$dir"
done
IFS="$IFS_SAVED"
PATH="$CLEAN_PATH"; export PATH
CFLAGS="--target=wasm32-wasi -O2 -Wl,--strip-all"

"$CC" $CFLAGS -o "$OUT/hello/hello.wasm" hello/hello.c
"$CC" $CFLAGS -o "$OUT/primes/primes.wasm" primes/primes.c
# A library module: no _start, only the exported functions.
"$CC" $CFLAGS -nostartfiles -Wl,--no-entry -o "$OUT/add/add.wasm" add/add.c
# The federated learning training client (docs/fl.md).
"$CC" $CFLAGS -o "$OUT/fl/logreg.wasm" fl/logreg.c
echo "built in $OUT: hello/hello.wasm primes/primes.wasm add/add.wasm fl/logreg.wasm"
