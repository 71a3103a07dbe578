#!/usr/bin/env python3
"""Durable ingest timed on two or more Hearth builds, the builds alternating.

    python3 benches/compare/ingest_ab.py --input /tmp/cpu-1000-1d.lp --bin target/release \\
        --build before=/tmp/hearth-before --build after=target/release/hearth

Each round starts every build in turn on a fresh data directory under `--work-dir` (loopback,
free ports), loads `--input` with `hearth-bench ingest` from `--bin` (`--workers` x
`--batch` lines per request, every request acknowledged after the WAL fsync) and stops the
server. Per build and round it records the load tool's rows/s, and the server's CPU seconds
(and the part in the kernel) and minor page faults (`/proc`) when the last request was
acknowledged, and its peak RSS (`VmHWM`). It prints each round and, per build, the medians of the rounds. The load
average is printed with each load, since the machine may be shared.
"""

import argparse
import os
import pathlib
import shutil
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import ingest  # noqa: E402  (bench_ingest, cpu_seconds, RssSampler)
from tsbs_queries import Hearth  # noqa: E402  (a `hearth serve` on free ports)


def load(binary, args, data_dir):
    """One load of `args.lp` into a fresh server: rows/s, CPU s, system CPU s, minor faults,
    peak RSS MiB (`VmHWM`)."""
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    server = Hearth(binary, data_dir)
    try:
        rss = ingest.RssSampler(server.process.pid)
        report = ingest.bench_ingest(args, server.url, "v3")
        cpu, system, faults = ingest.cpu_seconds(server.process.pid)
        _, hwm = rss.stop()
    finally:
        server.stop()
    return report["rows_per_s"], cpu, system, faults, hwm // (1 << 20)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", dest="lp", required=True, help="line protocol file")
    parser.add_argument("--bin", required=True, type=pathlib.Path,
                        help="directory holding the hearth-bench binary")
    parser.add_argument("--build", action="append", required=True, metavar="NAME=BINARY")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work-dir", default="/tmp/hearth-ingest-ab")
    args = parser.parse_args()
    builds = [b.split("=", 1) for b in args.build]
    results = {name: [] for name, _ in builds}
    work = pathlib.Path(args.work_dir)
    for round_ in range(1, args.rounds + 1):
        for name, binary in builds:
            load_average = os.getloadavg()[0]
            figures = load(binary, args, work / name)
            results[name].append(figures)
            rows, cpu, system, faults, peak = figures
            print(f"round {round_} {name}: {rows / 1e3:.0f} k rows/s, server CPU {cpu:.2f} s "
                  f"({system:.2f} s system), "
                  f"{faults} minor faults, peak RSS {peak} MiB (load average {load_average:.2f})",
                  flush=True)
    shutil.rmtree(work, ignore_errors=True)
    print("\nmedians of the rounds")
    for name, _ in builds:
        columns = list(zip(*results[name]))
        rows, cpu, system, faults, peak = (statistics.median(c) for c in columns)
        print(f"{name}: {rows / 1e3:.0f} k rows/s, server CPU {cpu:.2f} s ({system:.2f} s system), "
              f"{faults:.0f} minor faults, peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
