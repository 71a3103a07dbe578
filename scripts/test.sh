#!/usr/bin/env bash
# Runs every test of Hearth. On a fresh machine with Rust and Python it first installs what the
# tests use: psql (Debian's postgresql-client), pgjdbc and a JDK, openssl and curl (TLS tests),
# Python's deltalake + pyarrow (the independent Delta Lake reader), moto's S3 server (the
# object-store tests start it themselves), DuckDB (the oracle for the TSBS queries), psycopg and
# SQLAlchemy. Safe to run repeatedly; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql-client)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
# pgjdbc (the PostgreSQL client Java tools use) and a JDK to run its test program.
[ -f /usr/share/java/postgresql.jar ] || need_apt+=(libpostgresql-jdbc-java)
command -v java >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
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
# psycopg 3 and SQLAlchemy: real Python clients of the PostgreSQL protocol.
python3 -c 'import psycopg' >/dev/null 2>&1 || py_need+=('psycopg[binary]>=3.1')
python3 -c 'import sqlalchemy' >/dev/null 2>&1 || py_need+=('sqlalchemy>=2.0')
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
