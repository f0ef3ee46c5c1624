#!/usr/bin/env bash
# Side-by-side hot-path latency of the C++ leaders, Quill and NanoLog, each
# against the floor timed in its own process (issue 15), by ul's method
# (burst/20, `int, int, double`; see latency.cpp and docs/perf/README.md).
# Optionally ul itself through its own harness, same bursts, same table.
# Not part of CI: it needs Quill's and NanoLog's sources from GitHub.
#
#   benches/cpp/run.sh QUILL_DIR NANOLOG_DIR [options]
#   QUILL_DIR=... NANOLOG_DIR=... benches/cpp/run.sh [options]
#
# Options (environment variable in brackets):
#   --build DIR          build and scratch directory, outside the repo [BUILD_DIR, /tmp/ul-cpp-bench]
#   --runs N             processes per logger, alternated between loggers [RUNS, 5]
#   --bursts N           timed bursts of 20 calls per case per process [BURSTS, 10000]
#   --warmup N           untimed calls of each case before timing [WARMUP, 100]
#   --loggers LIST       comma list of quill,quill-spin,nanolog,ul [LOGGERS, quill,quill-spin,nanolog]
#   --ul                 add ul (its own harness: `latency --logger ul --modes burst --messages int`)
#   --quill-sleep-us N   `quill`'s backend sleep when idle, Quill's default [QUILL_SLEEP_US, 100];
#                        `quill-spin` is Quill with 0 (its backend spins), as Quill's own harness sets
#   --no-pin             do not pin the producer thread to CPU 1
#   --no-build           reuse the binaries in the build dir
#
# Prints one markdown table on stdout (medians over the runs, and the ratio
# to the floor of the same process), then every run's full percentiles.
# Raw lines: BUILD_DIR/results-<time>.txt. Needs g++ (C++17), python3 (for
# NanoLog's preprocessor script and the report); cargo for --ul.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

QUILL_DIR=${QUILL_DIR:-}
NANOLOG_DIR=${NANOLOG_DIR:-}
BUILD_DIR=${BUILD_DIR:-/tmp/ul-cpp-bench}
RUNS=${RUNS:-5}
BURSTS=${BURSTS:-10000}
WARMUP=${WARMUP:-100}
LOGGERS=${LOGGERS:-quill,quill-spin,nanolog}
QUILL_SLEEP_US=${QUILL_SLEEP_US:-100}
CXX=${CXX:-g++}
PYTHON=${PYTHON:-python3}
pin=()
build=1
positional=()

die() { echo "run.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD_DIR=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --bursts) BURSTS=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --loggers) LOGGERS=$2; shift 2 ;;
    --ul) LOGGERS="$LOGGERS,ul"; shift ;;
    --quill-sleep-us) QUILL_SLEEP_US=$2; shift 2 ;;
    --no-pin) pin=(--no-pin); shift ;;
    --no-build) build=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    --*) die "unknown option $1" ;;
    *) positional+=("$1"); shift ;;
  esac
done
[ ${#positional[@]} -ge 1 ] && QUILL_DIR=${positional[0]}
[ ${#positional[@]} -ge 2 ] && NANOLOG_DIR=${positional[1]}
[ ${#positional[@]} -le 2 ] || die "at most two positional arguments: QUILL_DIR NANOLOG_DIR"

IFS=, read -r -a loggers <<< "$LOGGERS"
want() { local l; for l in "${loggers[@]}"; do [ "$l" = "$1" ] && return 0; done; return 1; }
for l in "${loggers[@]}"; do
  case "$l" in quill|quill-spin|nanolog|ul) ;; *) die "unknown logger $l (quill, quill-spin, nanolog, ul)" ;; esac
done
want_quill() { want quill || want quill-spin; }
if [ "$build" = 1 ] && want_quill; then
  [ -f "$QUILL_DIR/include/quill/Backend.h" ] || die "QUILL_DIR ($QUILL_DIR) has no include/quill/Backend.h"
fi
if [ "$build" = 1 ] && want nanolog; then
  [ -f "$NANOLOG_DIR/runtime/NanoLogCpp17.h" ] || die "NANOLOG_DIR ($NANOLOG_DIR) has no runtime/NanoLogCpp17.h"
fi
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
case "$BUILD_DIR/" in "$repo"/*) die "the build dir must be outside the repo ($repo)" ;; esac

cxxflags=(-std=c++17 -O3 -march=native -DNDEBUG -pthread)

# ------------------------------------------------------------------ build
if [ "$build" = 1 ] && want_quill; then
  echo "run.sh: building Quill harness ($QUILL_DIR) ..." >&2
  "$CXX" "${cxxflags[@]}" -DUL_BENCH_QUILL -I"$QUILL_DIR/include" \
    "$here/latency.cpp" -o "$BUILD_DIR/latency-quill"
fi
if [ "$build" = 1 ] && want nanolog; then
  echo "run.sh: building NanoLog runtime and harness ($NANOLOG_DIR) ..." >&2
  # NanoLog's runtime/GNUmakefile (C++17 library), with our flags, in a copy.
  rm -rf "$BUILD_DIR/nanolog"
  mkdir -p "$BUILD_DIR/nanolog"
  cp -r "$NANOLOG_DIR/runtime" "$NANOLOG_DIR/preprocessor" "$BUILD_DIR/nanolog/"
  (
    cd "$BUILD_DIR/nanolog/runtime"
    objs=()
    for s in Cycles Util Log NanoLog RuntimeLogger TimeTrace; do
      "$CXX" "${cxxflags[@]}" -I. -ItestHelper -c "$s.cc" -o "$s.o"
      objs+=("$s.o")
    done
    # The library links GeneratedFunctions (used by the preprocessor
    # variant); its makefile generates them from testHelper/client.cc.
    "$CXX" "${cxxflags[@]}" -E -I. testHelper/client.cc -o testHelper/client.cc.i
    "$PYTHON" ../preprocessor/parser.py --mapOutput=testHelper/client.map testHelper/client.cc.i
    "$PYTHON" ../preprocessor/parser.py --combinedOutput=testHelper/GeneratedCode.cc testHelper/client.map
    "$CXX" "${cxxflags[@]}" -I. -ItestHelper -c testHelper/GeneratedCode.cc -o testHelper/GeneratedCode.o
    rm -f libNanoLog.a
    ar -cr libNanoLog.a "${objs[@]}" testHelper/GeneratedCode.o
    "$CXX" "${cxxflags[@]}" testHelper/GeneratedCode.o Cycles.o Util.o Log.o LogDecompressor.cc \
      -I. -ItestHelper -o decompressor -lrt
  )
  "$CXX" "${cxxflags[@]}" -Werror=format -DUL_BENCH_NANOLOG -I"$BUILD_DIR/nanolog/runtime" \
    "$here/latency.cpp" -o "$BUILD_DIR/latency-nanolog" "$BUILD_DIR/nanolog/runtime/libNanoLog.a" -lrt
fi
ul_latency=${CARGO_TARGET_DIR:-$repo/target}/release/latency
ul_writer=${CARGO_TARGET_DIR:-$repo/target}/release/ul-writer
if [ "$build" = 1 ] && want ul; then
  echo "run.sh: building ul's harness (cargo, release) ..." >&2
  (cd "$repo" && cargo build --release -q -p ul-benches --features harness --bin latency -p ul-writer)
fi

# ------------------------------------------------------------------ run
# The git revision of a source dir, if it is a checkout (a `git archive`
# export is not: name its revision in the dir's name).
src_rev() {
  if [ -e "$1/.git" ]; then git -C "$1" describe --tags --always --dirty 2>/dev/null; else echo "(not a git checkout)"; fi
}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$BUILD_DIR/results-$stamp.txt"
: > "$results"
{
  echo "meta started $(date -u +'%Y-%m-%d %H:%M:%S') UTC"
  echo "meta load_before $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "meta cpu $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs online, Linux $(uname -r)"
  echo "meta command benches/cpp/run.sh --runs $RUNS --bursts $BURSTS --warmup $WARMUP --loggers $LOGGERS --quill-sleep-us $QUILL_SLEEP_US ${pin[*]}"
  echo "meta compiler $("$CXX" --version | head -1), ${cxxflags[*]}"
  if want_quill; then echo "meta source_quill $QUILL_DIR $(src_rev "$QUILL_DIR")"; fi
  if want nanolog; then echo "meta source_nanolog $NANOLOG_DIR $(src_rev "$NANOLOG_DIR")"; fi
  if want ul; then echo "meta source_ul $repo $(src_rev "$repo")"; fi
} >> "$results"
t_start=$(date +%s)

count_lines() { # logger logfile
  case "$1" in
    quill*) grep -c 'Logging int: ' "$2" || true ;;
    nanolog) "$BUILD_DIR/nanolog/runtime/decompressor" decompress "$2" | grep -c 'Logging int: ' || true ;;
  esac
}

for ((r = 1; r <= RUNS; r++)); do
  for l in "${loggers[@]}"; do
    echo "run.sh: run $r/$RUNS: $l ($BURSTS bursts per case) ..." >&2
    if [ "$l" = ul ]; then
      json="$BUILD_DIR/ul-$stamp-$r.json"
      # --writer: the one just built (else the harness rebuilds it when it
      # is older than the harness binary).
      "$ul_latency" --logger ul --modes burst --messages int --threads 1 --writer "$ul_writer" \
        --bursts "$BURSTS" --warmup "$WARMUP" ${pin[@]+"${pin[@]}"} --json "$json" > /dev/null
      "$PYTHON" "$here/report.py" --ul-json "$json" --run "$r" >> "$results"
      continue
    fi
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ul-cpp-$l-XXXXXX")
    bin=$l sleep_us=$QUILL_SLEEP_US
    [ "$l" = quill-spin ] && bin=quill sleep_us=0
    # In the temp dir: NanoLog opens ./compressedLog before setLogFile.
    out=$(cd "$dir" && "$BUILD_DIR/latency-$bin" --dir "$dir" --bursts "$BURSTS" --warmup "$WARMUP" \
      --quill-sleep-us "$sleep_us" ${pin[@]+"${pin[@]}"})
    while read -r kind name rest; do
      case "$kind" in
        # The logger's row takes the name it ran under (quill-spin).
        row) [ "$name" = floor ] || name=$l; echo "row $r $l $name $rest" ;;
        info) echo "info $r $l $name $rest" ;;
      esac
    done <<< "$out" >> "$results"
    log=$(sed -n 's/.* log=\([^ ]*\).*/\1/p' <<< "$out")
    expected=$(sed -n 's/.* lines_expected=\([0-9]*\).*/\1/p' <<< "$out")
    echo "lines $r $l $(count_lines "$l" "$log") $expected" >> "$results"
    rm -rf "$dir"
  done
done
{
  echo "meta load_after $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "meta wall_s $(( $(date +%s) - t_start ))"
} >> "$results"
echo "run.sh: raw results in $results" >&2
"$PYTHON" "$here/report.py" "$results"
