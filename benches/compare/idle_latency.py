#!/usr/bin/env python3
"""Query latency after quiet: how long the same statement takes right after the previous one
and after a pause, next to two controls that do not involve Hearth.

    python3 benches/compare/idle_latency.py --pg "host=127.0.0.1 port=5432 dbname=tsbs" \\
        --sql "SELECT max(usage_user) FROM cpu WHERE hostname = 'host_1'"

Runs against a Hearth that is already serving (psycopg, simple protocol, rows fetched). For each
pause (default 0, 0.25 and 1 s) it prints the median of `--runs` executions of `SELECT 1` and of
`--sql` (if given), each after sleeping that long, and two controls of the machine itself: a TCP
round trip to an echo server in another process, and sha256 of 8 MB in this process. Where the
controls slow down after a pause too, the machine (a shared virtual machine, say) is waking up
slowly, not Hearth.
"""

import argparse
import hashlib
import os
import socket
import statistics
import time


def echo_server(listener):
    """Echoes what it reads until the peer closes; runs in a forked child."""
    conn, _ = listener.accept()
    while True:
        data = conn.recv(64)
        if not data:
            os._exit(0)
        conn.sendall(data)


def timed(action, pause, runs):
    """Median milliseconds of `action()`, each run after `pause` seconds of sleep."""
    times = []
    for _ in range(runs):
        time.sleep(pause)
        began = time.perf_counter()
        action()
        times.append((time.perf_counter() - began) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", required=True, help="libpq connection string of Hearth")
    parser.add_argument("--sql", help="a statement to time besides SELECT 1")
    parser.add_argument("--pauses", default="0,0.25,1", help="seconds, comma-separated")
    parser.add_argument("--runs", type=int, default=12, help="executions per cell (default 12)")
    args = parser.parse_args()
    import psycopg

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    if os.fork() == 0:
        echo_server(listener)
    address = listener.getsockname()
    listener.close()
    echo = socket.create_connection(address)
    echo.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def round_trip():
        echo.sendall(b"x")
        echo.recv(64)

    block = os.urandom(8 << 20)
    pg = psycopg.connect(args.pg, autocommit=True)
    cases = [("SELECT 1", lambda: pg.execute("SELECT 1").fetchall())]
    if args.sql:
        cases.append((args.sql[:40], lambda: pg.execute(args.sql).fetchall()))
    cases += [("TCP echo (control)", round_trip),
              ("sha256 of 8 MB (control)", lambda: hashlib.sha256(block).digest())]
    for _, action in cases:   # warm up
        for _ in range(3):
            action()
    pauses = [float(p) for p in args.pauses.split(",")]
    print(f"load average {os.getloadavg()[0]:.2f}; median ms of {args.runs} runs per cell")
    print("| case | " + " | ".join(f"after {p:g} s" for p in pauses) + " |")
    print("|---|" + "---|" * len(pauses))
    for name, action in cases:
        cells = [f"{timed(action, p, args.runs):.2f}" for p in pauses]
        print(f"| {name} | " + " | ".join(cells) + " |")
    echo.close()


if __name__ == "__main__":
    main()
