#!/usr/bin/env python3
"""TSBS devops query latency: Hearth (over the PostgreSQL protocol) next to DuckDB and chDB.

Generates TSBS cpu-only data with `hearth-bench generate`, writes it to a fresh Hearth with
`hearth-bench ingest`, restarts Hearth (the graceful stop persists everything) and waits for the
compactor, exports the table as Parquet through Hearth's HTTP API and loads that into an
in-memory DuckDB table and into a chDB (in-process ClickHouse) MergeTree table, then runs every
TSBS query type ITERATIONS times with random parameters (the draws of `tsbs_oracle.py`, put in
ClickHouse's dialect for chDB), Hearth, DuckDB and chDB in turn, and prints the median and p99
per type with the load average. chDB's translation is checked on the first draw of each type:
its row count must be DuckDB's, or the script stops with status 1.

    python3 benches/compare/tsbs_queries.py --scale 1000 --iterations 10
    python3 benches/compare/tsbs_queries.py --baseline /tmp/old-build/release   # A/B two builds

Needs release binaries (`cargo build --release -p hearth -p hearth-bench`) and Python's
`duckdb`, `psycopg` and `chdb` (installed if missing).
"""

import argparse
import importlib.util
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
DURATION_UNITS_S = {"d": 86_400, "h": 3_600, "m": 60}
# How chDB hands over an answer: materialised in Python, as fetchall() does for the others.
CHDB_FORMAT = "DataFrame"


def ensure_packages():
    """Installs duckdb, psycopg and chdb when missing."""
    missing = []
    for module, package in (("duckdb", "duckdb"), ("psycopg", "psycopg[binary]"),
                            ("chdb", "chdb")):
        if importlib.util.find_spec(module) is None:
            missing.append(package)
    if missing:
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", *missing]
        if subprocess.run(cmd).returncode != 0:
            subprocess.run(cmd + ["--break-system-packages"], check=True)


def load_oracle():
    """The query drawer of the integration test's oracle (one definition of the queries)."""
    path = ROOT / "crates/hearth/tests/integration/tsbs_oracle.py"
    spec = importlib.util.spec_from_file_location("tsbs_oracle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Hosts:
    """What the drawer needs of the data set, without parsing it: hostnames and time range."""

    def __init__(self, scale, start_us, duration_us):
        self.names = sorted(f"host_{i}" for i in range(scale))
        self.range = (start_us, start_us + duration_us - 10_000_000)

    def hostnames(self):
        return self.names

    def time_range_us(self):
        return self.range


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hearth:
    """A `hearth serve` on free ports."""

    def __init__(self, binary, data_dir, extra=()):
        self.http_port, self.pg_port = free_port(), free_port()
        self.log = open(data_dir / "hearth.log", "ab")
        self.process = subprocess.Popen(
            [binary, "serve", "--data-dir", str(data_dir),
             "--http-addr", f"127.0.0.1:{self.http_port}",
             "--pg-addr", f"127.0.0.1:{self.pg_port}", *extra],
            stdout=self.log, stderr=self.log)
        self.url = f"http://127.0.0.1:{self.http_port}"
        for _ in range(600):
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("hearth did not start; see hearth.log")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=600)

    def query_json(self, db, sql):
        q = urllib.parse.urlencode({"db": db, "q": sql, "format": "json"})
        with urllib.request.urlopen(f"{self.url}/api/v3/query_sql?{q}", timeout=600) as r:
            return json.load(r)

    def export_parquet(self, db, sql, path):
        q = urllib.parse.urlencode({"db": db, "q": sql, "format": "parquet"})
        with urllib.request.urlopen(f"{self.url}/api/v3/query_sql?{q}", timeout=3600) as r:
            path.write_bytes(r.read())


def load_chdb(session, parquet):
    """Table cpu in `session`: a MergeTree ordered by (hostname, time) holding the Parquet rows.

    The columns are the file's, inferred without Nullable (which a sorting key refuses): tags
    String, fields Int64, `time` DateTime64(6, 'UTC'); TSBS cpu rows have every tag and field.
    The table is then merged (OPTIMIZE FINAL), as Hearth's compactor is waited for. Returns the
    seconds all that took and the table's {"n": parts, "r": rows, "b": bytes on disk}.
    """
    began = time.perf_counter()
    source = f"file('{parquet}', Parquet)"
    session.query(f"CREATE TABLE cpu ENGINE = MergeTree ORDER BY (hostname, time) EMPTY AS "
                  f"SELECT * FROM {source} SETTINGS schema_inference_make_columns_nullable = 0")
    session.query(f"INSERT INTO cpu SELECT * FROM {source}")
    session.query("OPTIMIZE TABLE cpu FINAL")
    seconds = time.perf_counter() - began
    parts = session.query(
        "SELECT count() AS n, sum(rows) AS r, sum(bytes_on_disk) AS b FROM system.parts "
        "WHERE database = currentDatabase() AND table = 'cpu' AND active", "JSON")
    return seconds, {k: int(v) for k, v in json.loads(parts.bytes())["data"][0].items()}


def clickhouse_sql(sql):
    """One of the oracle's queries in ClickHouse's dialect.

    DISTINCT ON (lastpoint) becomes LIMIT 1 BY; the time literals lose their ' +0000', which
    ClickHouse rejects: it parses the rest exactly, to the microsecond, in the compared column's
    time zone (UTC). `date_trunc`, CTEs and GROUP BY / ORDER BY on aliases work as they are.
    """
    distinct_on = "SELECT DISTINCT ON (hostname) *"
    if sql.startswith(distinct_on):
        sql = "SELECT *" + sql.removeprefix(distinct_on) + " LIMIT 1 BY hostname"
    return sql.replace(" +0000'", "'")


def measure(queries, pg, duck, session, baseline=None, pause=0.0):
    """{type: {engine: [ms]}}: each draw on Hearth (and the baseline build, if given), DuckDB and
    chDB in turn, all rows fetched; `pause` seconds before each, so that work an engine leaves
    running after it answers (chDB's background threads, say) does not land on the next one.

    Exits with status 1 if chDB's answer to the first draw of a type has another row count than
    DuckDB's (a wrong translation).
    """
    session.query("SELECT 1", CHDB_FORMAT)   # the first DataFrame imports pandas (~0.2 s)
    engines = ("hearth",) + (("baseline",) if baseline else ()) + ("duckdb", "chdb")
    results = {}
    for name, sql, _ in queries:
        timings = results.setdefault(name, {e: [] for e in engines})
        first_draw = not timings["hearth"]
        ch_sql = clickhouse_sql(sql)
        counts = {}
        for engine in engines:
            time.sleep(pause)
            began = time.perf_counter()
            if engine == "hearth":
                answer = pg.execute(sql).fetchall()
            elif engine == "baseline":
                answer = baseline.execute(sql).fetchall()
            elif engine == "duckdb":
                answer = duck.execute(sql).fetchall()
            else:
                answer = session.query(ch_sql, CHDB_FORMAT)
            timings[engine].append((time.perf_counter() - began) * 1e3)
            counts[engine] = len(answer)
        if first_draw and counts["chdb"] != counts["duckdb"]:
            sys.exit(f"{name}: chDB answered {counts['chdb']} rows, DuckDB {counts['duckdb']}\n"
                     f"  DuckDB: {sql}\n  chDB:   {ch_sql}")
    return results


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=1000, help="hosts (default 1000)")
    parser.add_argument("--duration", default="1d", help="time range: 1d, 12h, ... (default 1d)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=10, help="draws per query type")
    parser.add_argument("--target", default=str(ROOT / "target/release"),
                        help="directory of the release binaries")
    parser.add_argument("--baseline", help="directory of another build's release binaries: its "
                        "`hearth` serves a copy of the same data and is timed alternately too")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--pause", type=float, default=0.25,
                        help="seconds of quiet before each query (default 0.25)")
    args = parser.parse_args()
    ensure_packages()
    import chdb.session
    import duckdb
    import psycopg

    oracle = load_oracle()
    target = pathlib.Path(args.target)
    work = pathlib.Path(tempfile.mkdtemp(prefix="hearth-tsbs-"))
    lines = work / "cpu.lp"
    subprocess.run([target / "hearth-bench", "generate", "--use-case", "cpu-only",
                    "--scale", str(args.scale), "--duration", args.duration,
                    "--seed", str(args.seed), "--output", lines], check=True)
    data = work / "data"
    data.mkdir()
    hearth = Hearth(target / "hearth", data)
    subprocess.run([target / "hearth-bench", "ingest", "--http", hearth.url, "--db", "tsbs",
                    "--workers", "4", "--batch", "5000", lines], check=True)
    hearth.stop()
    hearth = Hearth(target / "hearth", data, ["--compaction-interval", "2s"])
    # Steady state: everything persisted and compacted, i.e. the file list has not changed for
    # 15 s (the compactor, every 2 s, has nothing left it may merge within its memory budget).
    last, stable_since = None, time.monotonic()
    for _ in range(600):
        files_now = hearth.query_json(
            "tsbs", "SELECT path FROM system.parquet_files ORDER BY path")
        if files_now != last:
            last, stable_since = files_now, time.monotonic()
        elif files_now and time.monotonic() - stable_since > 15:
            break
        time.sleep(1)
    files = hearth.query_json("tsbs", "SELECT count(*) AS n, sum(rows) AS r, sum(bytes) AS b "
                                      "FROM system.parquet_files")[0]
    parquet = work / "cpu.parquet"
    hearth.export_parquet("tsbs", "SELECT * FROM cpu", parquet)
    base = None
    if args.baseline:
        # The same files for the other build: a copy taken while no server writes.
        hearth.stop()
        shutil.copytree(data, work / "data-baseline")
        hearth = Hearth(target / "hearth", data)
        base = Hearth(pathlib.Path(args.baseline) / "hearth", work / "data-baseline")
    duck = duckdb.connect()
    # As the oracle loads it: `time` a plain TIMESTAMP (UTC), tags text, fields integers.
    duck.execute("CREATE TABLE cpu AS SELECT * REPLACE (CAST(time AS TIMESTAMP) AS time) "
                 f"FROM read_parquet('{parquet}')")
    rows = duck.execute("SELECT count(*) FROM cpu").fetchone()[0]
    session = chdb.session.Session(str(work / "chdb"))
    try:
        chdb_load_s, parts = load_chdb(session, parquet)
        if parts["r"] != rows:
            sys.exit(f"chDB loaded {parts['r']} rows, DuckDB {rows}")

        first_us = 1_451_606_400_000_000   # hearth-bench's default start, TSBS's 2016-01-01
        duration_us = DURATION_UNITS_S[args.duration[-1]] * int(args.duration[:-1]) * 1_000_000
        queries = oracle.draw_queries(Hosts(args.scale, first_us, duration_us), args.seed,
                                      args.iterations, [q[0] for q in oracle.QUERY_TYPES])
        pg = psycopg.connect(f"host=127.0.0.1 port={hearth.pg_port} dbname=tsbs user=bench",
                             autocommit=True)
        base_pg = base and psycopg.connect(
            f"host=127.0.0.1 port={base.pg_port} dbname=tsbs user=bench", autocommit=True)
        results = measure(queries, pg, duck, session, base_pg, args.pause)
    finally:
        hearth.stop()
        if base:
            base.stop()
        session.close()

    load = os.getloadavg()
    print(f"\nTSBS cpu-only, {args.scale} hosts x {args.duration} ({rows} rows; Hearth: "
          f"{files['n']} files, {files['b'] / files['r']:.2f} B/row; chDB: {parts['n']} parts, "
          f"{parts['b'] / parts['r']:.2f} B/row), {args.iterations} draws per type, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"DuckDB {duckdb.__version__} (in-memory table); chDB {chdb.__version__} (ClickHouse "
          f"{chdb.engine_version}, MergeTree loaded in {chdb_load_s:.1f} s, answers as "
          f"{CHDB_FORMAT}); Hearth over the PostgreSQL protocol; ratio = Hearth / min(DuckDB, "
          f"chDB) p50\n")
    baseline_head = f"{'baseline p50':>14}" if base else ""
    print(f"{'query':<24}{'Hearth p50':>12}{'p99':>10}{baseline_head}{'DuckDB p50':>12}{'p99':>10}"
          f"{'chDB p50':>12}{'p99':>10}{'ratio':>8}")
    summary = []
    for name, t in results.items():
        h50, d50, c50 = (statistics.median(t[e]) for e in ("hearth", "duckdb", "chdb"))
        b = f"{statistics.median(t['baseline']):>12.1f}ms" if base else ""
        print(f"{name:<24}{h50:>10.1f}ms{percentile(t['hearth'], 99):>8.1f}ms{b}"
              f"{d50:>10.1f}ms{percentile(t['duckdb'], 99):>8.1f}ms"
              f"{c50:>10.1f}ms{percentile(t['chdb'], 99):>8.1f}ms{h50 / min(d50, c50):>8.2f}")
        entry = {"query": name, "hearth_p50_ms": h50, "duckdb_p50_ms": d50, "chdb_p50_ms": c50}
        if base:
            entry["baseline_p50_ms"] = statistics.median(t["baseline"])
        summary.append(entry)
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
