#!/usr/bin/env bash
# Runs the ring unit tests and the end-to-end tests (real ul-writer, real
# producers, real shared memory) under AddressSanitizer, as cargo-fuzz builds
# its targets: nightly, -Zsanitizer=address, an explicit --target so build
# scripts and proc macros stay uninstrumented. The standard library itself is
# not instrumented (rust-src is not installed here, so no -Zbuild-std).
#
#   scripts/asan.sh            # ring tests + writer integration tests
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Zsanitizer=address"
export RUSTDOCFLAGS="-Zsanitizer=address"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export CARGO_TARGET_DIR=target/asan
# The tests run examples (producers, the session daemon) and ul-log from
# next to their own binary; `cargo test --tests` alone does not build them,
# and a test's own `cargo build` would lack the sanitizer's --target.
cargo +nightly build --target "$TARGET" -p ul-ring -p ul-writer -p ul -p ul-log --bins --examples
export UL_EXAMPLES_PREBUILT=1
cargo +nightly test --target "$TARGET" -p ul-ring --lib --tests
cargo +nightly test --target "$TARGET" -p ul-writer --tests
