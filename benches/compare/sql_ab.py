#!/usr/bin/env python3
"""Statements timed on two or more Hearth builds over the same data, the builds alternating.

    python3 benches/compare/sql_ab.py --data-dir /tmp/hearth-tsbs --database tsbs \\
        --build before=/tmp/hearth-before --build after=target/release/hearth \\
        --sql "SELECT date_trunc('minute', time) AS m, max(usage_user) FROM cpu GROUP BY m"

Each round starts every build in turn on `--data-dir` (loopback, free ports; its log appended to
`hearth.log` there), runs each `--sql` twice to warm up and `--runs` times more (psycopg, simple
protocol, rows fetched), and stops it. It prints, per statement, the median of the rounds' medians per build, each
round's median, and the ratio of every build to the first. The data directory must hold settled
data (nothing left to persist or compact), so that every build reads the same files; the load
average is printed before each round, since the machine may be shared.
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from tsbs_queries import Hearth  # noqa: E402  (a `hearth serve` on free ports)


def timings(pg_port, database, statements, runs):
    """Per statement, the median milliseconds of `runs` executions after two warm-ups."""
    import psycopg
    medians = []
    with psycopg.connect(f"host=127.0.0.1 port={pg_port} dbname={database} user=postgres",
                         autocommit=True) as conn:
        for sql in statements:
            times = []
            for i in range(runs + 2):
                began = time.perf_counter()
                conn.execute(sql).fetchall()
                if i >= 2:
                    times.append((time.perf_counter() - began) * 1000)
            medians.append(statistics.median(times))
    return medians


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--database", default="tsbs")
    parser.add_argument("--build", action="append", required=True, metavar="NAME=BINARY")
    parser.add_argument("--sql", action="append", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    builds = [b.split("=", 1) for b in args.build]
    results = {name: [] for name, _ in builds}
    for round_ in range(1, args.rounds + 1):
        for name, binary in builds:
            print(f"round {round_} {name}: load average {os.getloadavg()[0]:.2f}", flush=True)
            server = Hearth(binary, pathlib.Path(args.data_dir))
            try:
                results[name].append(timings(server.pg_port, args.database, args.sql, args.runs))
            finally:
                server.stop()
    first = builds[0][0]
    for i, sql in enumerate(args.sql):
        print(f"\n{sql}")
        base = statistics.median(r[i] for r in results[first])
        for name, _ in builds:
            rounds = [r[i] for r in results[name]]
            median = statistics.median(rounds)
            each = " / ".join(f"{t:.1f}" for t in rounds)
            print(f"  {name:12} {median:8.1f} ms  ({each})  {median / base:.2f}")


if __name__ == "__main__":
    main()
