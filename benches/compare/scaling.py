#!/usr/bin/env python3
"""How Hearth's cost grows with data: ingest rate and TSBS query latency at 1x, 4x and 16x rows.

For each multiple K (more days of the same hosts, so a query's time window scans the same
amount of data whatever K is), generates TSBS cpu-only data with `hearth-bench generate`,
ingests it into a fresh Hearth with `hearth-bench ingest`, restarts Hearth with compaction on
and gives it `--settle` seconds, then runs `hearth-bench query` over all TSBS types. Prints
one table: rows, ingest rows/s, peak RSS, bytes per row, and each query type's p50.

    python3 benches/compare/scaling.py --hosts 50 --days 1,4,16 --iterations 5

Expected shape: ingest rate flat; queries over a fixed window (single-groupby-*,
cpu-max-all-8, double-groupby-*, high-cpu-*) flat; lastpoint flat (a cache). What grows is
what scans all rows before its end time: groupby-orderby-limit has no lower time bound.
BENCHMARKS.md has the measured table and where it departs from this.

Needs release binaries (`cargo build --release -p hearth -p hearth-bench`).
"""

import argparse
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def helpers():
    """The process helpers of ingest.py (one definition of them)."""
    spec = importlib.util.spec_from_file_location("compare_ingest", HERE / "ingest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--days", default="1,4,16", help="comma-separated multiples (days of data)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--settle", type=float, default=60.0)
    ap.add_argument("--bin", type=pathlib.Path, default=ROOT / "target" / "release")
    ap.add_argument("--work", type=pathlib.Path)
    ap.add_argument("--json", type=pathlib.Path)
    args = ap.parse_args()
    h = helpers()
    results = []
    for days in [int(d) for d in args.days.split(",")]:
        work = pathlib.Path(tempfile.mkdtemp(prefix="hearth-scaling-", dir=args.work))
        try:
            lp = work / "cpu.lp"
            subprocess.run([str(args.bin / "hearth-bench"), "generate", "--use-case", "cpu-only",
                            "--scale", str(args.hosts), "--duration", f"{days}d", "--seed",
                            str(args.seed), "--output", str(lp)], check=True,
                           capture_output=True)
            http, pg = h.free_port(), h.free_port()
            data = work / "data"
            serve = [str(args.bin / "hearth"), "serve", "--data-dir", str(data),
                     "--http-addr", f"127.0.0.1:{http}", "--pg-addr", f"127.0.0.1:{pg}"]
            load = os.getloadavg()[0]
            proc = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                h.wait_http(f"http://127.0.0.1:{http}/health")
                rss = h.RssSampler(proc.pid)
                out = subprocess.run(
                    [str(args.bin / "hearth-bench"), "ingest", "--http",
                     f"http://127.0.0.1:{http}", "--db", "bench", "--workers", "4", "--batch",
                     "5000", "--json", str(lp)], check=True, capture_output=True, text=True)
                ingest = json.loads(out.stdout)
                peak, _ = rss.stop()
            finally:
                h.stop(proc)
            lp.unlink()
            proc = subprocess.Popen(serve + ["--compaction-interval", "5s"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                h.wait_http(f"http://127.0.0.1:{http}/health")
                time.sleep(args.settle)
                out = subprocess.run(
                    [str(args.bin / "hearth-bench"), "query", "--pg",
                     f"postgres://postgres@127.0.0.1:{pg}/bench", "--iterations",
                     str(args.iterations), "--seed", str(args.seed), "--json"],
                    check=True, capture_output=True, text=True)
                queries = json.loads(out.stdout)
            finally:
                h.stop(proc)
            size = h.du(data / "objects" / "bench")
            results.append({"days": days, "rows": ingest["rows"],
                            "rows_per_s": ingest["rows_per_s"], "peak_rss": peak,
                            "bytes": size, "load_before": load, "queries": queries})
            print(f"{days:3} d: {ingest['rows']} rows, {ingest['rows_per_s'] / 1000:.0f} k rows/s, "
                  f"peak RSS {peak / 2**20:.0f} MiB, {size / ingest['rows']:.2f} B/row "
                  f"(load {load:.2f})", flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print()
    header = ["", *[f"{r['days']} d ({r['rows'] / 1e6:.2f} M rows)" for r in results]]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print("| ingest rows/s | " + " | ".join(f"{r['rows_per_s'] / 1000:.0f} k" for r in results)
          + " |")
    print("| peak RSS | " + " | ".join(f"{r['peak_rss'] / 2**20:.0f} MiB" for r in results)
          + " |")
    print("| bytes/row | " + " | ".join(f"{r['bytes'] / r['rows']:.2f}" for r in results) + " |")
    for i, q in enumerate(results[0]["queries"]):
        print(f"| {q['type']} p50 ms | "
              + " | ".join(f"{r['queries'][i]['p50_ms']:.1f}" for r in results) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
