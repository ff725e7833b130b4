#!/bin/sh
# Rust-level benchmarks: our kithara-storage core against the seed crate
# (kithara-storage 0.0.1-alpha2). Prints a table and writes bench/results/rust.json.
# Extra arguments go to the harness (--only SUBSTRING, --out PATH).
set -eu
cd "$(dirname "$0")/../.."
exec cargo run --release --locked --manifest-path bench/rust/Cargo.toml --bin kithara-storage-bench -- "$@"
