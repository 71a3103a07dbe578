#!/usr/bin/env bash
# Fuzzes the line protocol parser (crates/hearth-lineproto/fuzz) with cargo-fuzz / libFuzzer.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS (default 30) is the time per target; TARGET defaults to parse_lines (the other one is
# parse_line_roundtrip). Exits non-zero when the fuzzer finds a crash: the input is left in
# crates/hearth-lineproto/fuzz/artifacts/TARGET/, and
#   cargo fuzz run TARGET ARTIFACT      (from crates/hearth-lineproto/fuzz) replays it.
#
# Toolchain: nightly when rustup has one, else the default (stable) one with RUSTC_BOOTSTRAP=1,
# which lets it take the -Z flags cargo-fuzz passes. Installs cargo-fuzz if it is missing (about
# 30 s on 2 cores, once per machine). Builds go to $CARGO_TARGET_DIR/fuzz (or target/fuzz), away from
# the main build; the corpus the fuzzer grows is kept there too, next to the build, and the
# committed seeds in fuzz/corpus/TARGET are only read.
# FUZZ_SANITIZER (default none: the parser has no unsafe code) may be address (about 4x slower).
# FUZZ_CMIN_ABOVE (default 5000): minimize the kept corpus first when it has more files.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fuzz_dir="$root/crates/hearth-lineproto/fuzz"

seconds="${1:-30}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse_lines)
sanitizer="${FUZZ_SANITIZER:-none}"
cmin_above="${FUZZ_CMIN_ABOVE:-5000}"

# Toolchain able to build fuzz targets (cargo-fuzz passes -Z flags to rustc).
toolchain=()
if command -v rustup >/dev/null 2>&1 && rustup toolchain list 2>/dev/null | grep '^nightly' >/dev/null; then
  toolchain=(+nightly)
  echo "fuzz.sh: toolchain: nightly ($(rustc +nightly --version))"
else
  export RUSTC_BOOTSTRAP=1
  echo "fuzz.sh: toolchain: $(rustc --version) with RUSTC_BOOTSTRAP=1 (no nightly installed)"
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  install=(cargo install cargo-fuzz --locked)
  # A persistent build directory when the caller has one (CI's cache), else cargo's temporary one.
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    install+=(--target-dir "$CARGO_TARGET_DIR/cargo-fuzz-install")
  fi
  echo "fuzz.sh: cargo-fuzz missing; running: ${install[*]}"
  started=$SECONDS
  "${install[@]}"
  echo "fuzz.sh: installed $(cargo fuzz --version) in $((SECONDS - started)) s"
fi

target_dir="${CARGO_TARGET_DIR:-$root/target}/fuzz"
status=0
for target in "${targets[@]}"; do
  seeds="$fuzz_dir/corpus/$target"
  corpus="$target_dir/corpus/$target"
  mkdir -p "$corpus"
  build=(--fuzz-dir "$fuzz_dir" --target-dir "$target_dir" --sanitizer "$sanitizer" --debug-assertions)
  # libFuzzer only ever adds files; shrink a corpus that a persistent target dir has let grow.
  files=$(find "$corpus" -type f | wc -l)
  if [ "$files" -gt "$cmin_above" ]; then
    cmin=(cargo "${toolchain[@]}" fuzz cmin "${build[@]}" "$target" "$corpus")
    echo "fuzz.sh: corpus has $files files; running (in $fuzz_dir): ${cmin[*]}"
    (cd "$fuzz_dir" && "${cmin[@]}" >/dev/null 2>&1)
    echo "fuzz.sh: corpus minimized to $(find "$corpus" -type f | wc -l) files"
  fi
  run=(cargo "${toolchain[@]}" fuzz run "${build[@]}" "$target" "$corpus")
  [ -d "$seeds" ] && run+=("$seeds")
  run+=(-- "-max_total_time=$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1)
  [ -f "$fuzz_dir/$target.dict" ] && run+=("-dict=$fuzz_dir/$target.dict")
  echo "fuzz.sh: running (in $fuzz_dir): ${run[*]}"
  started=$SECONDS
  if (cd "$fuzz_dir" && "${run[@]}"); then
    echo "fuzz.sh: $target: no crash in ${seconds} s of fuzzing ($((SECONDS - started)) s with the build); corpus $(find "$corpus" -type f | wc -l) files in $corpus"
  else
    status=1
    echo "fuzz.sh: $target: FAILED (crash, timeout or build error); inputs in $fuzz_dir/artifacts/$target/" >&2
  fi
done
exit "$status"
