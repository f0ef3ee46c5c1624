#!/usr/bin/env bash
# Runs the main job on defaults: a ul-writer serving /dev/shm/ul into ./logs,
# and a demo producer logging into it. Then shows what was written.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release -p ul-writer --bins --examples
SHM=${UL_SHM:-/dev/shm/ul}
./target/release/ul-writer --shm "$SHM" --dir ./logs &
WRITER=$!
trap 'kill -TERM $WRITER 2>/dev/null; wait $WRITER 2>/dev/null || true' EXIT
./target/release/examples/demo --shm "$SHM"
kill -TERM $WRITER
wait $WRITER || true
trap - EXIT
echo
echo "== ./logs/server.log (last lines; the file keeps earlier runs' lines too) =="
# `tail`, not `head`: with `pipefail`, `grep | head` fails with SIGPIPE once
# the file outgrows a pipe buffer (every run adds 100,006 lines).
grep -v 'worker ' logs/server.log | tail -n 8
grep 'worker ' logs/server.log | tail -n 2
echo
echo "== ./logs/server.info.json (last line) =="
tail -n 1 logs/server.info.json
echo
ls -l logs/
