#!/usr/bin/env bash
# Runs the main job: a ul-writer serving a region of the demo's own into
# ./logs, and a demo producer logging into it. Then shows what was written.
#
# Variables (all optional):
#   UL_SHM      the region to use; default /dev/shm/ul-demo-<pid>, private to
#               this run and removed at the end. If a writer already serves
#               UL_SHM, the demo says so and exits 2 without logging.
#   UL_DIR      where the demo's writer writes; default ./logs.
#   UL_BIN_DIR  a directory holding ul-writer and examples/demo already
#               built; default: build them (cargo build --release) and use
#               ${CARGO_TARGET_DIR:-target}/release.
set -euo pipefail
cd "$(dirname "$0")"
if [ -n "${UL_BIN_DIR:-}" ]; then
    BIN=$UL_BIN_DIR
else
    cargo build --release -p ul-writer --bins --examples
    BIN=${CARGO_TARGET_DIR:-target}/release
fi
if [ -n "${UL_SHM:-}" ]; then
    SHM=$UL_SHM
    OWN_SHM=
else
    SHM=/dev/shm/ul-demo-$$
    OWN_SHM=$SHM
fi
DIR=${UL_DIR:-./logs}
PIDFILE=$(mktemp -u "${TMPDIR:-/tmp}/ul-demo-writer-$$.XXXXXX")
WRITER=
cleanup() {
    if [ -n "$WRITER" ] && kill -0 "$WRITER" 2>/dev/null; then
        kill -TERM "$WRITER" 2>/dev/null || true
    fi
    if [ -n "$WRITER" ]; then wait "$WRITER" 2>/dev/null || true; fi
    rm -f "$PIDFILE"
    if [ -n "$OWN_SHM" ]; then rm -f "$OWN_SHM"; fi
}
trap cleanup EXIT

# Rotation keeps $DIR bounded however often the demo runs (each run adds
# about 6 MB): each file is rotated at 8 MiB and one old copy is kept, so
# the demo's files stay under about 35 MB in all.
"$BIN/ul-writer" --shm "$SHM" --dir "$DIR" --pid-file "$PIDFILE" --rotate-size 8M --keep 1 &
WRITER=$!
# The writer writes its pid file once it serves the region; a writer that
# was refused (another one serves UL_SHM) exits instead.
for _ in $(seq 200); do
    [ -s "$PIDFILE" ] && break
    if ! kill -0 "$WRITER" 2>/dev/null; then
        wait "$WRITER" 2>/dev/null || true
        WRITER=
        echo "demo: the demo's ul-writer could not serve $SHM (its message is above);" >&2
        echo "demo: nothing was logged. Unset UL_SHM (the demo then uses a region of its own) or stop the other writer." >&2
        exit 2
    fi
    sleep 0.1
done
if [ ! -s "$PIDFILE" ]; then
    echo "demo: ul-writer did not start serving $SHM within 20 s" >&2
    exit 1
fi
"$BIN/examples/demo" --shm "$SHM"
kill -TERM "$WRITER"
status=0
wait "$WRITER" || status=$?
WRITER=
if [ "$status" -ne 0 ]; then
    echo "demo: ul-writer exited with status $status" >&2
    exit 1
fi
echo
echo "== $DIR/server.log (last lines; the file keeps earlier runs' lines too) =="
# `tail`, not `head`: with `pipefail`, `grep | head` fails with SIGPIPE once
# the file outgrows a pipe buffer (every run adds 20,006 lines).
grep -v 'worker ' "$DIR/server.log" | tail -n 8
grep 'worker ' "$DIR/server.log" | tail -n 2
echo
echo "== $DIR/server.info.json (last line) =="
tail -n 1 "$DIR/server.info.json"
echo
ls -l "$DIR/"
