#!/usr/bin/env bash
# ripgrep on ul's `log` backend, against a ul-writer on its default
# settings: does a real client's burst lose records?
#
#   benches/ripgrep/run.sh [RUNS]          # default 20
#
# Environment (all optional):
#   UL_RG_WORK   work directory (default /tmp/ul-ripgrep): ripgrep's source,
#                its build, the logs of each run
#   PATTERN      pattern for both searches (default: fn)
#   DIR          directories of the `rg --trace PATTERN DIR` run (default:
#                the crates in ~/.cargo/registry/src whose names start with a-c)
#   BIGDIR       directories of the parallel `rg --trace -c PATTERN BIGDIR`
#                run (default: ~/.cargo/registry/src)
#   UL_WRITER_ARGS  extra ul-writer arguments (default: none, i.e. defaults)
#   UL_RG_RACE   if 1, start ripgrep right after the writer instead of once
#                the writer serves the region (the writer's start races
#                ripgrep's first records)
#   UL_RG_HOGS   if N > 0, N busy loops compete for the CPUs during the runs
#                (a loaded machine: the writer gets less time)
#   UL_RG_OVERFLOW  if set (drop, or block:MS), the patched ripgrep attaches
#                with that `ul::Overflow` instead of the default
#
# What it does: fetches ripgrep 14.1.1's source with cargo (`cargo vendor`
# of a scratch crate that depends on it; needs the crates registry), points
# its logger (`crates/core/logger.rs`, installed in `flags/parse.rs`) at
# `ul::log_compat` with a path dependency on this checkout's `producer/`
# (feature `log`), builds it in release, then for each run and each search:
# starts a fresh ul-writer on a new region, runs the search (no flush: rg
# exits as it always does; the writer drains what is left), stops the
# writer with SIGTERM (it drains everything first), and counts the records
# ripgrep logged in server.log and the drops the writer reported
# (`N records dropped ...`). A run passes if nothing was dropped.
# Not a CI test: it downloads and builds ripgrep (a few minutes).
set -euo pipefail

RUNS=${1:-20}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${UL_RG_WORK:-/tmp/ul-ripgrep}
PATTERN=${PATTERN:-fn}
DIR=${DIR:-"$HOME/.cargo/registry/src/*/[a-c]*"}
BIGDIR=${BIGDIR:-"$HOME/.cargo/registry/src"}
VERSION=14.1.1
SRC=$WORK/ripgrep-$VERSION
export CARGO_TARGET_DIR=$WORK/target
mkdir -p "$WORK"

if [ ! -d "$SRC" ] && [ ! -d "$WORK/fetch/vendor/ripgrep" ]; then
    echo "== fetching ripgrep $VERSION with cargo vendor"
    rm -rf "$WORK/fetch"
    mkdir -p "$WORK/fetch/src"
    cat >"$WORK/fetch/Cargo.toml" <<EOF
[package]
name = "fetch-ripgrep"
version = "0.0.0"
edition = "2021"
[dependencies]
ripgrep = "=$VERSION"
[workspace]
EOF
    touch "$WORK/fetch/src/lib.rs"
    (cd "$WORK/fetch" && cargo vendor --quiet vendor >/dev/null)
fi
if [ ! -d "$SRC" ]; then
    cp -r "$WORK/fetch/vendor/ripgrep" "$SRC"
    rm -f "$SRC/.cargo-checksum.json"
fi

if ! grep -q 'fn ul_init' "$SRC/crates/core/main.rs"; then
    echo "== patching ripgrep's logger to ul::log_compat"
    # The logger: ul instead of ripgrep's stderr logger.
    perl -0pi -e 's{if let Err\(err\) = crate::logger::Logger::init\(\) \{}{if let Err(err) = crate::ul_init() \{}' \
        "$SRC/crates/core/flags/parse.rs"
    cat >>"$SRC/crates/core/main.rs" <<'EOF'

/// ul's `log` backend on the region at `$UL_SHM` (default /dev/shm/ul),
/// with `$UL_RG_OVERFLOW` (drop, block:MS) or ul's default overflow policy.
pub(crate) fn ul_init() -> Result<(), ul::log_compat::LogInitError> {
    let shm = std::env::var_os("UL_SHM").unwrap_or_else(|| "/dev/shm/ul".into());
    let mut opts = ul::Options::new(shm);
    match std::env::var("UL_RG_OVERFLOW").as_deref() {
        Ok("drop") => opts = opts.overflow(ul::Overflow::Drop),
        Ok(s) if s.starts_with("block:") => {
            let ms: u64 = s[6..].parse().expect("UL_RG_OVERFLOW=block:MS");
            opts = opts.overflow(ul::Overflow::Block {
                timeout: std::time::Duration::from_millis(ms),
            });
        }
        _ => {}
    }
    ul::log_compat::init_with(opts)
}
EOF
    cat >>"$SRC/Cargo.toml" <<EOF

[dependencies.ul]
path = "$ROOT/producer"
features = ["log"]
EOF
    grep -q '^\[workspace\]' "$SRC/Cargo.toml" || echo '[workspace]' >>"$SRC/Cargo.toml"
fi

echo "== building ripgrep (release) and ul-writer (release)"
cargo build --quiet --release --manifest-path "$SRC/Cargo.toml"
cargo build --quiet --release -p ul-writer --manifest-path "$ROOT/Cargo.toml"
RG=$CARGO_TARGET_DIR/release/rg
WRITER=$CARGO_TARGET_DIR/release/ul-writer

# One run: $1 = label, the rest = rg's arguments. Prints
# "label written dropped seconds".
one_run() {
    local label=$1
    shift
    local tag=ul-rg-$$-$label
    local shm=/dev/shm/$tag logs=$WORK/logs/$tag
    rm -rf "$shm" "$logs"
    # shellcheck disable=SC2086
    "$WRITER" --shm "$shm" --dir "$logs" ${UL_WRITER_ARGS:-} 2>>"$WORK/writer.stderr" &
    local wpid=$!
    for _ in $(seq 1000); do
        [ "${UL_RG_RACE:-0}" = 1 ] && break
        [ -e "$shm" ] && [ -e "$logs/server.log" ] && break
        sleep 0.01
    done
    local t0 t1
    t0=$(date +%s.%N)
    UL_SHM=$shm "$RG" "$@" >/dev/null 2>>"$WORK/rg.stderr" || true
    t1=$(date +%s.%N)
    kill -TERM "$wpid"
    wait "$wpid"
    rm -f "$shm"
    # ripgrep's records are every line whose source is not ul-writer.
    local written dropped
    written=$(grep -vc '\] \[ul-writer\] ' "$logs/server.log" || true)
    dropped=$({ grep -o '[0-9]* records dropped' "$logs/server.log" || true; } | awk '{s+=$1} END {print s+0}')
    rm -rf "$logs"
    printf '%s %s %s %.2f\n' "$label" "$written" "$dropped" "$(echo "$t1 - $t0" | bc)"
}

HOGS=()
stop_hogs() { for h in "${HOGS[@]}"; do kill "$h" 2>/dev/null || true; done; }
trap stop_hogs EXIT
for _ in $(seq "${UL_RG_HOGS:-0}"); do
    sh -c 'while :; do :; done' &
    HOGS+=($!)
done

echo "== $RUNS runs; busy loops: ${UL_RG_HOGS:-0}; writer args: ${UL_WRITER_ARGS:-(defaults)}; overflow: ${UL_RG_OVERFLOW:-(ul default)}"
echo "search    run  written  dropped  seconds"
# shellcheck disable=SC2086
declare -A lossy=([single]=0 [parallel]=0) counts=([single]="" [parallel]="")
for i in $(seq "$RUNS"); do
    read -r _ w d s < <(one_run "single-$i" --trace "$PATTERN" $DIR)
    printf 'single   %4d %8d %8d %8s\n' "$i" "$w" "$d" "$s"
    [ "$d" -eq 0 ] || lossy[single]=$((lossy[single] + 1))
    counts[single]+=" $((w + d))"
    # shellcheck disable=SC2086
    read -r _ w d s < <(one_run "parallel-$i" --trace -c "$PATTERN" $BIGDIR)
    printf 'parallel %4d %8d %8d %8s\n' "$i" "$w" "$d" "$s"
    [ "$d" -eq 0 ] || lossy[parallel]=$((lossy[parallel] + 1))
    counts[parallel]+=" $((w + d))"
done
for k in single parallel; do
    distinct=$(echo "${counts[$k]}" | tr ' ' '\n' | sed '/^$/d' | sort -u | tr '\n' ' ')
    echo "summary $k: ${lossy[$k]} of $RUNS runs dropped records; records logged (written + dropped) per run: $distinct"
done
[ "${lossy[single]}" -eq 0 ] && [ "${lossy[parallel]}" -eq 0 ]
