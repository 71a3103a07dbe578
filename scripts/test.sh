#!/usr/bin/env bash
# Runs every test of Hearth. On a fresh machine with Rust and Python it first installs what the
# tests use: psql (Debian's postgresql-client), Python's deltalake + pyarrow (the independent
# Delta Lake reader), moto's S3 server (the object-store tests start it themselves) and DuckDB (the
# oracle for the TSBS queries). Safe to
# run repeatedly; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

py_need=()
python3 -c 'import deltalake, pyarrow' >/dev/null 2>&1 || py_need+=('deltalake>=1.0' 'pyarrow>=15')
# moto's S3 server: the real S3 API the object-store tests run against.
python3 -c 'import moto.server, flask' >/dev/null 2>&1 || py_need+=('moto[server]>=5.0.13')
# DuckDB: the oracle the TSBS query answers are compared with.
python3 -c 'import duckdb' >/dev/null 2>&1 || py_need+=('duckdb>=1.1')
if [ ${#py_need[@]} -gt 0 ]; then
  echo "installing Python packages ${py_need[*]}"
  python3 -m pip install --quiet --disable-pip-version-check "${py_need[@]}" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${py_need[@]}"
fi

cargo fmt --all -- --check
cargo test --workspace --locked "$@"

# Coverage-guided fuzzing of the line-protocol parser for a short time (HEARTH_FUZZ_SECONDS per
# target, 0 to skip); installs cargo-fuzz the first time.
fuzz_seconds="${HEARTH_FUZZ_SECONDS:-30}"
if [ "$fuzz_seconds" -gt 0 ]; then
  ./scripts/fuzz.sh "$fuzz_seconds" parse_lines parse_line_roundtrip
fi
