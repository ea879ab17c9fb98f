#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang) in build-fuzz and runs TARGET, or every target, for
# SECONDS each (default 60) on its seeds (fuzz/corpus/TARGET) and past findings
# (fuzz/regressions/TARGET). New coverage lands in build-fuzz/corpus/TARGET, a crash in
# build-fuzz/artifacts/TARGET/; the last line per target is libFuzzer's own count (#execs, cov, ft).
#   scripts/fuzz.sh                  every target, 60 s each
#   scripts/fuzz.sh all 30           every target, 30 s each (CI's regression run)
#   scripts/fuzz.sh safetensors 600  one target
# Exits non-zero when any target finds a crash, leak, undefined behaviour, timeout or broken invariant.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-all}
seconds=${2:-60}
jobs=-j"${DIFFUSE_JOBS:-2}"
# The layers below the parsers, built by g++ (core's kernels need it); fuzz/CMakeLists.txt links them.
cmake -S . -B build-fuzz/deps -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
deps=(diffuse_core diffuse_sampling diffuse_models)
[ "$target" = all ] || [ "$target" = server_request ] && deps+=(diffuse_pipeline)
cmake --build build-fuzz/deps --target "${deps[@]}" "$jobs"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DDIFFUSE_FUZZ=ON -DDIFFUSE_FUZZ_DEPS="$PWD/build-fuzz/deps" \
      -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
if [ "$target" = all ]; then
  targets=$(ls fuzz/*.cpp | xargs -n1 basename | sed 's/\.cpp$//')
  cmake --build build-fuzz --target diffuse_fuzz "$jobs"
else
  targets=$target
  cmake --build build-fuzz --target "fuzz_$target" "$jobs"
fi

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
failed=()
for t in $targets; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/artifacts/$t" "build-fuzz/logs" "fuzz/corpus/$t" "fuzz/regressions/$t"
  dict=(); [ -f "fuzz/dictionaries/$t.dict" ] && dict=(-dict="fuzz/dictionaries/$t.dict")
  # A hostile input must be refused in well under a second: -timeout=5 makes a slow one a finding.
  if ! "build-fuzz/fuzz/$t" "build-fuzz/corpus/$t" "fuzz/corpus/$t" "fuzz/regressions/$t" "${dict[@]}" \
       -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="build-fuzz/artifacts/$t/" >"build-fuzz/logs/$t.log" 2>&1; then
    failed+=("$t")
    tail -n 40 "build-fuzz/logs/$t.log"
  fi
  printf '%-22s %s\n' "$t" "$(grep -E '^#[0-9]+' "build-fuzz/logs/$t.log" | tail -n 1)"
done
if ((${#failed[@]})); then
  echo "fuzz findings in: ${failed[*]} (inputs under build-fuzz/artifacts/)" >&2
  exit 1
fi
