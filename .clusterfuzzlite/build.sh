#!/bin/bash
# Builds every fuzz target (fuzz/fuzz_*.c) for OSS-Fuzz and ClusterFuzzLite,
# inside their base-builder image or anywhere with the same environment:
#   CC, CXX, CFLAGS, CXXFLAGS   the compilers and the sanitizer flags
#   LIB_FUZZING_ENGINE          how a target is linked with its engine
#   OUT                         where the binaries and their files go
#   WORK (optional)             scratch space for the build
# and installs beside each binary <target>_seed_corpus.zip (corpus/<target>/),
# <target>.dict and <target>.options when corpus/ has them. ci/fuzz --oss-fuzz
# runs this with that environment and checks what it produced.
set -euo pipefail
# OSS-Fuzz runs a copy of this file, $SRC/build.sh, from the Dockerfile's
# WORKDIR ($SRC/shout); run in place, it finds the repository from its own path.
if [ -f "$(dirname "$0")/../fuzz/CMakeLists.txt" ]; then
  cd "$(dirname "$0")/.."
fi
[ -f fuzz/CMakeLists.txt ] || { echo "build.sh: run it from the repository" >&2; exit 1; }

: "${CC:?}" "${CXX:?}" "${CFLAGS?}" "${CXXFLAGS?}" "${LIB_FUZZING_ENGINE:?}" "${OUT:?}"
build=${WORK:-$(mktemp -d)}/shout-build
mkdir -p "$build" "$OUT"

# The runner that executes the binaries has no libjansson, so every library
# found by find_library (jansson through pkg-config) is taken in its static
# form. CMAKE_PROJECT_INCLUDE runs after project(), which sets the suffixes.
echo 'set(CMAKE_FIND_LIBRARY_SUFFIXES .a)' >"$build/static-libraries.cmake"

echo "build.sh: configuring in $build (CC=$CC, CFLAGS=$CFLAGS)"
# No build type: the flags are OSS-Fuzz's alone. No hardening (its
# _FORTIFY_SOURCE fights MemorySanitizer) and no -Werror (a newer clang's new
# warning must not stop continuous fuzzing). No tests, no benchmarks.
cmake -S . -B "$build" \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_C_FLAGS="$CFLAGS" -DCMAKE_CXX_FLAGS="$CXXFLAGS" -DCMAKE_BUILD_TYPE= \
  -DCMAKE_PROJECT_INCLUDE="$build/static-libraries.cmake" \
  -DSHOUT_FUZZ=oss-fuzz -DSHOUT_LIB_FUZZING_ENGINE="$LIB_FUZZING_ENGINE" \
  -DSHOUT_TESTS=OFF -DSHOUT_BENCH=OFF -DSHOUT_HARDEN=OFF -DSHOUT_WERROR=OFF
cmake --build "$build" --target fuzz_targets -j "$(nproc)"

# The targets that call jansson. Under MemorySanitizer (SANITIZER=memory)
# they are left out: libjansson comes from the distribution, uninstrumented,
# and MSan would flag every value it hands back. Every other target is fuzzed
# with MSan too.
jansson_targets=" fuzz_result_json fuzz_stats_json "

for source in fuzz/fuzz_*.c; do
  target=$(basename "$source" .c)
  if [ "${SANITIZER:-}" = memory ] && [[ "$jansson_targets" == *" $target "* ]]; then
    echo "build.sh: leaving out $target under MemorySanitizer (it calls libjansson)"
    rm -f "$OUT/$target"
    continue
  fi
  echo "build.sh: installing $target"
  cp "$build/fuzz/$target" "$OUT/"
  rm -f "$OUT/${target}_seed_corpus.zip"
  if [ -d "corpus/$target" ] && [ -n "$(ls -A "corpus/$target")" ]; then
    # -j: the zip holds the inputs themselves, no folder; -X: no extra attributes.
    zip -q -j -X "$OUT/${target}_seed_corpus.zip" "corpus/$target"/*
  fi
  for extra in dict options; do
    if [ -f "corpus/$target.$extra" ]; then
      cp "corpus/$target.$extra" "$OUT/"
    fi
  done
done
