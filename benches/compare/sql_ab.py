#!/usr/bin/env python3
"""Statements timed on two or more Hearth builds over the same data, the builds alternating.

    python3 benches/compare/sql_ab.py --data-dir /tmp/hearth-tsbs --database tsbs \\
        --build before=/tmp/hearth-before --build after=target/release/hearth \\
        --sql "SELECT date_trunc('minute', time) AS m, max(usage_user) FROM cpu GROUP BY m"

Each round starts every build in turn on `--data-dir` (loopback, ports 55432 and 58086), runs
each `--sql` twice to warm up and `--runs` times more (psycopg, simple protocol, rows fetched),
and stops it. It prints, per statement, the median of the rounds' medians per build, each
round's median, and the ratio of every build to the first. The data directory must hold settled
data (nothing left to persist or compact), so that every build reads the same files; the load
average is printed before each round, since the machine may be shared.
"""

import argparse
import os
import statistics
import subprocess
import time
import urllib.request

PG_PORT = 55432
HTTP_PORT = 58086


def serve(binary, data_dir, log):
    """A Hearth server of `binary` on `data_dir`, once it answers /health."""
    server = subprocess.Popen(
        [binary, "serve", "--data-dir", data_dir,
         "--pg-addr", f"127.0.0.1:{PG_PORT}", "--http-addr", f"127.0.0.1:{HTTP_PORT}"],
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"{binary} exited with {server.returncode}; see {log.name}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/health", timeout=1)
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"{binary} did not answer /health within 60 s; see {log.name}")


def timings(database, statements, runs):
    """Per statement, the median milliseconds of `runs` executions after two warm-ups."""
    import psycopg
    medians = []
    with psycopg.connect(f"host=127.0.0.1 port={PG_PORT} dbname={database} user=postgres",
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
            with open(f"/tmp/sql_ab-{name}.log", "w") as log:
                server = serve(binary, args.data_dir, log)
                try:
                    results[name].append(timings(args.database, args.sql, args.runs))
                finally:
                    server.terminate()
                    server.wait()
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
