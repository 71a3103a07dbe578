#!/usr/bin/env python3
"""Statements timed on two or more Hearth builds over the same data, the builds alternating.

    python3 benches/compare/sql_ab.py --data-dir /tmp/hearth-tsbs --database tsbs \\
        --build before=/tmp/hearth-before --build after=target/release/hearth \\
        --sql "SELECT date_trunc('minute', time) AS m, max(usage_user) FROM cpu GROUP BY m"

Each round starts every build in turn (in reverse order every other round) on `--data-dir`
(loopback, free ports; its log appended to `hearth.log` there), waits until the server uses no
CPU (start-up work such as building latest-row caches), runs each `--sql` twice to warm up and
`--runs` times more (psycopg, simple protocol, rows fetched), and stops it. It prints, per
statement and build, the median of the rounds' median latencies, each round's median, and the
ratio to the first build; then the same for the server's CPU time per run (user + system, from
`/proc/PID/stat` around the timed runs: on a shared machine less noisy than latency, and it
counts work on every core). The data directory must hold settled data (nothing left to persist
or compact), so that every build reads the same files; the load average is printed before each
round, since the machine may be shared.
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import ingest  # noqa: E402  (cpu_seconds)
from tsbs_queries import Hearth  # noqa: E402  (a `hearth serve` on free ports)


def cpu_ms(pid):
    """The CPU time (user + system) process `pid` has used, in milliseconds."""
    return ingest.cpu_seconds(pid)[0] * 1000


def settle(pid, quiet=0.3, most=60.0):
    """Waits until process `pid` used no CPU for `quiet` seconds (at most `most` seconds): a
    server starting may be building latest-row caches or replaying its WAL."""
    deadline = time.monotonic() + most
    last = cpu_ms(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_ms(pid)
        if now - last < 1:
            return
        last = now


def timings(server, database, statements, runs):
    """Per statement, the median milliseconds of `runs` executions after two warm-ups, and the
    server's CPU milliseconds per execution over those runs."""
    import psycopg
    settle(server.process.pid)
    out = []
    with psycopg.connect(f"host=127.0.0.1 port={server.pg_port} dbname={database} user=postgres",
                         autocommit=True) as conn:
        for sql in statements:
            times = []
            for i in range(runs + 2):
                if i == 2:
                    cpu = cpu_ms(server.process.pid)
                began = time.perf_counter()
                conn.execute(sql).fetchall()
                if i >= 2:
                    times.append((time.perf_counter() - began) * 1000)
            cpu = (cpu_ms(server.process.pid) - cpu) / runs
            out.append((statistics.median(times), cpu))
    return out


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
        for name, binary in builds if round_ % 2 else builds[::-1]:
            print(f"round {round_} {name}: load average {os.getloadavg()[0]:.2f}", flush=True)
            server = Hearth(binary, pathlib.Path(args.data_dir))
            try:
                results[name].append(timings(server, args.database, args.sql, args.runs))
            finally:
                server.stop()
    first = builds[0][0]
    for i, sql in enumerate(args.sql):
        print(f"\n{sql}")
        for what, k in (("ms", 0), ("ms CPU", 1)):
            base = statistics.median(r[i][k] for r in results[first])
            for name, _ in builds:
                rounds = [r[i][k] for r in results[name]]
                median = statistics.median(rounds)
                each = " / ".join(f"{t:.1f}" for t in rounds)
                print(f"  {name:12} {median:8.1f} {what:6}  ({each})  {median / base:.2f}")


if __name__ == "__main__":
    main()
