#!/usr/bin/env python3
"""Why Hearth's ingest rate falls with the size of a load: persisting during the load, or not.

For each size (days of TSBS cpu-only data for --hosts hosts), loads the data into a fresh
release server once per variant per round, the variants alternating:
- "bounded": the buffer is persisted to Parquet (sorted, merged, zstd-encoded) and compacted
  while the load runs, and writes wait for the persister while the unpersisted backlog is at
  `--write-backlog 256MiB` (4 × the flush size);
- "unbounded": the same without that wait (`--write-backlog` past the load), as before it
  existed: the backlog grows during a long load and is persisted after it;
- "deferred": persisting deferred past the load (`--flush-size` and `--flush-interval` past the
  load, compaction off), so the load pays only for parsing and the WAL.
Prints rows/s during the load, rows/s until everything is persisted (the load plus the stop,
which flushes what is left), the server's CPU seconds during the load, and peak RSS.

    python3 benches/compare/ingest_phases.py --hosts 50 --days 1,16 --rounds 2
    python3 benches/compare/ingest_phases.py --variants bounded,unbounded --rounds 3

Needs release binaries (`cargo build --release -p hearth -p hearth-bench`).
"""

import argparse
import importlib.util
import os
import pathlib
import shutil
import statistics
import subprocess
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VARIANTS = {
    "bounded": ["--write-backlog", "256MiB"],
    "unbounded": ["--write-backlog", "16GiB", "--memory-limit", "12GiB"],
    "deferred": ["--flush-size", "16GiB", "--flush-interval", "10h", "--compaction-interval",
                 "10h", "--memory-limit", "12GiB"],
}


def helpers():
    spec = importlib.util.spec_from_file_location("compare_ingest", HERE / "ingest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_load(h, args, lp, extra):
    work = pathlib.Path(tempfile.mkdtemp(prefix="hearth-phases-", dir=args.work))
    http = h.free_port()
    serve = [str(args.bin / "hearth"), "serve", "--data-dir", str(work / "data"),
             "--http-addr", f"127.0.0.1:{http}", "--pg-addr", f"127.0.0.1:{h.free_port()}"]
    proc = subprocess.Popen(serve + extra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        h.wait_http(f"http://127.0.0.1:{http}/health")
        load = os.getloadavg()[0]
        rss = h.RssSampler(proc.pid)
        cpu0 = h.cpu_seconds(proc.pid)[0]
        ns = argparse.Namespace(bin=args.bin, workers=4, batch=5000, lp=lp)
        report = h.bench_ingest(ns, f"http://127.0.0.1:{http}", "v3")
        cpu = h.cpu_seconds(proc.pid)[0] - cpu0
        peak, _ = rss.stop()
        started = time.monotonic()
        h.stop(proc, timeout=1800)
        stop_s = time.monotonic() - started
        return dict(rows_per_s=report["rows_per_s"], cpu_s=cpu, peak=peak, stop_s=stop_s,
                    load=load, rows=report["rows"])
    finally:
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--days", default="1,16")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bin", type=pathlib.Path, default=ROOT / "target" / "release")
    ap.add_argument("--work", type=pathlib.Path)
    ap.add_argument("--variants", default="bounded,unbounded,deferred",
                    help=f"comma-separated, of {', '.join(VARIANTS)}")
    args = ap.parse_args()
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variants: {', '.join(unknown)}")
    h = helpers()
    print("| rows | variant | rows/s in the load (median) | runs | rows/s until persisted | "
          "server CPU s | peak RSS | stop s | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for days in [int(d) for d in args.days.split(",")]:
        gen = pathlib.Path(tempfile.mkdtemp(prefix="hearth-phases-lp-", dir=args.work))
        lp = gen / "cpu.lp"
        subprocess.run([str(args.bin / "hearth-bench"), "generate", "--use-case", "cpu-only",
                        "--scale", str(args.hosts), "--duration", f"{days}d", "--seed",
                        str(args.seed), "--output", str(lp)], check=True,
                       stderr=subprocess.DEVNULL)
        runs = {v: [] for v in variants}
        for _ in range(args.rounds):
            for v in variants:
                runs[v].append(one_load(h, args, lp, VARIANTS[v]))
        for label, rs in runs.items():
            for r in rs:
                r["persisted_per_s"] = r["rows"] / (r["rows"] / r["rows_per_s"] + r["stop_s"])
            med = lambda k: statistics.median(r[k] for r in rs)
            rates = ", ".join(f"{r['rows_per_s'] / 1e3:.0f} k" for r in rs)
            print(f"| {rs[0]['rows'] / 1e6:.2f} M | {label} | {med('rows_per_s') / 1e3:.0f} k | "
                  f"{rates} | {med('persisted_per_s') / 1e3:.0f} k | {med('cpu_s'):.1f} | "
                  f"{med('peak') / 2**20:.0f} MiB | {med('stop_s'):.1f} | {med('load'):.2f} |",
                  flush=True)
        shutil.rmtree(gen, ignore_errors=True)


if __name__ == "__main__":
    main()
