#!/usr/bin/env python3
"""Durable ingest timed on two or more Hearth builds, the builds alternating.

    python3 benches/compare/ingest_ab.py --input /tmp/cpu-1000-1d.lp \\
        --bench target/release/hearth-bench \\
        --build before=/tmp/hearth-before --build after=target/release/hearth

Each round starts every build in turn on a fresh data directory under `--work-dir` (loopback,
free ports), loads `--input` with `hearth-bench ingest` (`--workers` x
`--batch` lines per request, every request acknowledged after the WAL fsync) and stops the
server. Per build and round it records the load tool's rows/s, and the server's CPU seconds
(and the part in the kernel), minor page faults and peak RSS (`/proc`) when the last request
was acknowledged. It prints each round and, per build, the medians of the rounds. The load
average is printed with each load, since the machine may be shared.
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from tsbs_queries import Hearth  # noqa: E402  (a `hearth serve` on free ports)


def process_figures(pid):
    """CPU seconds (user + system), system CPU seconds, minor page faults and peak RSS (MiB) of
    process `pid` so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    # After the command: state is field 3, so minflt (10), utime (14), stime (15) are at 7, 11, 12.
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    system = int(fields[12]) / ticks
    faults = int(fields[7])
    peak = 0
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) // 1024
    return cpu, system, faults, peak


def load(binary, bench, args, data_dir):
    """One load of `args.input` into a fresh server: rows/s, CPU s, system CPU s, faults, peak
    RSS MiB."""
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    server = Hearth(binary, data_dir)
    try:
        report = subprocess.run(
            [bench, "ingest", "--http", server.url, "--db", args.database,
             "--workers", str(args.workers), "--batch", str(args.batch), "--json", args.input],
            check=True, capture_output=True, text=True)
        figures = process_figures(server.process.pid)
    finally:
        server.stop()
    return (json.loads(report.stdout)["rows_per_s"], *figures)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="line protocol file")
    parser.add_argument("--bench", required=True, help="the hearth-bench binary")
    parser.add_argument("--build", action="append", required=True, metavar="NAME=BINARY")
    parser.add_argument("--database", default="bench")
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
            figures = load(binary, args.bench, args, work / name)
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
