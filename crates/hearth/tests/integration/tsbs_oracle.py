#!/usr/bin/env python3
"""TSBS devops queries on Hearth, checked against DuckDB on the same rows.

The line-protocol file (TSBS cpu-only, as written by `hearth-bench generate --use-case
cpu-only`) is parsed here and loaded into an in-memory DuckDB table `cpu`; the same file
is expected to have been written to Hearth's database NAME. Each of the 11 TSBS devops
query types is drawn ROUNDS times with `random.Random(SEED)` (hosts from the hostnames in
the file, windows inside its time range, clamped when the data is shorter than the
window), run on both, and the answers compared.

    python3 tsbs_oracle.py --http http://127.0.0.1:8086 --db tsbs --lines cpu.lp
    python3 tsbs_oracle.py --lines cpu.lp --print-queries   # JSON, no server needed

The SQL follows TSBS's TimescaleDB texts (cmd/tsbs_generate_queries/databases/
timescaledb/devops.go, plain-column variant) with two changes: the double-groupby CTE
groups by `hostname` (there is no `tags_id`), and groupby-orderby-limit names its
aggregate `max_usage_user`, since the engines name an unaliased `max(usage_user)`
differently and answers are compared by column name. Exit status: 0 if every answer
matches, 1 if any differs or fails, 2 on bad arguments or input.
"""

import argparse
import csv
import datetime
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request

import duckdb

MEASUREMENT = "cpu"

# TSBS's metric order: GetCPUMetricsSlice(n) takes the first n.
CPU_METRICS = [
    "usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
    "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice",
]

HOUR_US = 3600 * 1_000_000
# TSBS devops durations: DoubleGroupByDuration, HighCPUDuration, MaxAllDuration.
DOUBLE_GROUPBY_US = 12 * HOUR_US
HIGH_CPU_US = 12 * HOUR_US
MAX_ALL_US = 8 * HOUR_US

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


# ---------------------------------------------------------------------------
# Line protocol and the DuckDB copy


class Dataset:
    """The merged rows of the file: one per (tag set, time), later lines winning per field."""

    def __init__(self):
        self.tag_keys = []      # in order of first appearance
        self.field_types = {}   # field -> int or float, in order of first appearance
        self.rows = {}          # (sorted tag items, time_us) -> {field: value}

    def hostnames(self):
        """The distinct hostnames, sorted."""
        return sorted({dict(tags).get("hostname") for tags, _ in self.rows} - {None})

    def time_range_us(self):
        """(first, last) row time in microseconds since the epoch."""
        times = [t for _, t in self.rows]
        return min(times), max(times)


def parse_field_value(text):
    """An integer (`i`/`u` suffix) or a float; anything else is not TSBS cpu data."""
    if text[-1:] in ("i", "u"):
        return int(text[:-1])
    return float(text)


def parse_line(ds, line):
    """Merge one line into `ds`; lines of other measurements are ignored.

    No escapes are handled (TSBS data has none). Time is truncated to microseconds
    toward the past, as Hearth stores it, so it is part of the row identity that way.
    """
    series, fields_text, ts_text = line.split(" ")
    measurement, *tag_pairs = series.split(",")
    if measurement != MEASUREMENT:
        return
    tags = dict(pair.split("=", 1) for pair in tag_pairs)
    for key in tags:
        if key not in ds.tag_keys:
            ds.tag_keys.append(key)
    fields = {}
    for pair in fields_text.split(","):
        key, text = pair.split("=", 1)
        value = parse_field_value(text)
        kind = ds.field_types.setdefault(key, type(value))
        if kind is not type(value):
            raise ValueError(f"field {key} is {kind.__name__}, then {type(value).__name__}")
        fields[key] = value
    key = (tuple(sorted(tags.items())), int(ts_text) // 1000)
    ds.rows.setdefault(key, {}).update(fields)


def read_line_protocol(path):
    """Parse the file into a Dataset; exits with status 2 naming a bad line."""
    ds = Dataset()
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                parse_line(ds, line)
            except ValueError as e:
                sys.exit(f"{path}:{number}: cannot parse line ({e}): {line[:200]}")
    if not ds.rows:
        sys.exit(f"{path}: no `{MEASUREMENT}` lines")
    return ds


def format_us(us):
    """Microseconds since the epoch as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC, no offset)."""
    return (EPOCH + datetime.timedelta(microseconds=us)).strftime("%Y-%m-%d %H:%M:%S.%f")


def load_duckdb(ds):
    """An in-memory DuckDB with table cpu(time, tags..., fields...) holding ds's rows."""
    con = duckdb.connect()
    fields = list(ds.field_types)
    columns = ["time"] + ds.tag_keys + fields
    types = (["TIMESTAMP"] + ["VARCHAR"] * len(ds.tag_keys)
             + ["BIGINT" if ds.field_types[f] is int else "DOUBLE" for f in fields])
    con.execute("CREATE TABLE cpu (%s)" % ", ".join(
        f'"{c}" {t}' for c, t in zip(columns, types)))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cpu.csv")
        with open(path, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(columns)
            for (tag_items, time_us), values in ds.rows.items():
                tags = dict(tag_items)
                out.writerow([format_us(time_us)]
                             + [tags.get(k, "") for k in ds.tag_keys]
                             + [repr(values[k]) if k in values else "" for k in fields])
        con.execute(f"COPY cpu FROM '{path}' (HEADER, NULL '')")
    return con


# ---------------------------------------------------------------------------
# Query generation


class Drawer:
    """TSBS's random choices, over the hosts and time range of the data."""

    def __init__(self, ds, seed):
        self.rng = random.Random(seed)
        self.hosts = ds.hostnames()
        first, last = ds.time_range_us()
        self.start_us = first
        self.span_us = last - first + 1   # [first, last] as a half-open range

    def window(self, length_us):
        """A random [start, end) of the given length inside the data, clamped to it."""
        length_us = min(length_us, self.span_us)
        start = self.start_us + self.rng.randrange(self.span_us - length_us + 1)
        return sql_time(start), sql_time(start + length_us)

    def host_clause(self, n):
        """`(hostname = 'a' OR ...)` for n distinct random hosts (at most all of them)."""
        hosts = self.rng.sample(self.hosts, min(n, len(self.hosts)))
        return "(" + " OR ".join(f"hostname = '{h}'" for h in hosts) + ")"


def sql_time(us):
    """A timestamp literal in TSBS's format ('2006-01-02 15:04:05.999999 +0000')."""
    text = format_us(us).rstrip("0").rstrip(".")
    return f"'{text} +0000'"


def single_groupby(metrics, hosts, hours):
    """Max of `metrics` metrics per minute for `hosts` random hosts over `hours` hours."""
    def make(d):
        start, end = d.window(hours * HOUR_US)
        where = d.host_clause(hosts)
        aggs = ", ".join(f"max({m}) AS max_{m}" for m in CPU_METRICS[:metrics])
        return (f"SELECT date_trunc('minute', time) AS minute, {aggs} FROM cpu "
                f"WHERE {where} AND time >= {start} AND time < {end} "
                f"GROUP BY minute ORDER BY minute ASC")
    return make


def cpu_max_all(hosts):
    """Max of all metrics per hour for `hosts` random hosts over 8 hours."""
    def make(d):
        start, end = d.window(MAX_ALL_US)
        where = d.host_clause(hosts)
        aggs = ", ".join(f"max({m}) AS max_{m}" for m in CPU_METRICS)
        return (f"SELECT date_trunc('hour', time) AS hour, {aggs} FROM cpu "
                f"WHERE {where} AND time >= {start} AND time < {end} "
                f"GROUP BY hour ORDER BY hour")
    return make


def double_groupby(metrics):
    """Average of `metrics` metrics per (hour, hostname) over 12 hours, all hosts."""
    def make(d):
        start, end = d.window(DOUBLE_GROUPBY_US)
        names = CPU_METRICS[:metrics]
        aggs = ", ".join(f"avg({m}) AS mean_{m}" for m in names)
        means = ", ".join(f"mean_{m}" for m in names)
        return (f"WITH cpu_avg AS (SELECT date_trunc('hour', time) AS hour, hostname, {aggs} "
                f"FROM cpu WHERE time >= {start} AND time < {end} GROUP BY hour, hostname) "
                f"SELECT hour, hostname, {means} FROM cpu_avg ORDER BY hour, hostname")
    return make


def high_cpu(hosts):
    """Every row with usage_user > 90 in 12 hours, of all hosts (0) or `hosts` random ones."""
    def make(d):
        start, end = d.window(HIGH_CPU_US)
        where = f" AND {d.host_clause(hosts)}" if hosts else ""
        return (f"SELECT * FROM cpu WHERE usage_user > 90.0 "
                f"AND time >= {start} AND time < {end}{where}")
    return make


def lastpoint(_d):
    """The last row of every host."""
    return "SELECT DISTINCT ON (hostname) * FROM cpu ORDER BY hostname, time DESC"


def groupby_orderby_limit(d):
    """Max usage_user of the last 5 minutes before a random end time."""
    _, end = d.window(HOUR_US)
    return (f"SELECT date_trunc('minute', time) AS minute, max(usage_user) AS max_usage_user "
            f"FROM cpu WHERE time < {end} GROUP BY minute ORDER BY minute DESC LIMIT 5")


# (type, SQL generator, whether the ORDER BY fixes the order of all rows)
QUERY_TYPES = [
    ("single-groupby-1-1-1", single_groupby(1, 1, 1), True),
    ("single-groupby-1-1-12", single_groupby(1, 1, 12), True),
    ("single-groupby-5-1-12", single_groupby(5, 1, 12), True),
    ("single-groupby-5-8-1", single_groupby(5, 8, 1), True),
    ("cpu-max-all-8", cpu_max_all(8), True),
    ("double-groupby-1", double_groupby(1), True),
    ("double-groupby-all", double_groupby(len(CPU_METRICS)), True),
    ("high-cpu-all", high_cpu(0), False),
    ("high-cpu-1", high_cpu(1), False),
    ("lastpoint", lastpoint, True),
    ("groupby-orderby-limit", groupby_orderby_limit, True),
]


def draw_queries(ds, seed, rounds, types):
    """[(type, sql, ordered)]: `rounds` draws of each of `types`, type by type."""
    d = Drawer(ds, seed)
    return [(name, make(d), ordered)
            for name, make, ordered in QUERY_TYPES if name in types
            for _ in range(rounds)]


# ---------------------------------------------------------------------------
# Running and comparing


class QueryError(Exception):
    """An engine refused or failed a query."""


def run_hearth(base_url, db, sql):
    """Hearth's answer over HTTP as a list of dicts (NULL fields are absent)."""
    body = json.dumps({"db": db, "q": sql, "format": "json"}).encode()
    request = urllib.request.Request(
        base_url.rstrip("/") + "/api/v3/query_sql", data=body,
        headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        raise QueryError(f"HTTP {e.code}: {e.read().decode(errors='replace')}") from None
    except urllib.error.URLError as e:
        raise QueryError(f"cannot reach {base_url}: {e.reason}") from None


def run_duckdb(con, sql):
    """DuckDB's answer as (column names, column types as text, rows as tuples)."""
    try:
        cursor = con.execute(sql)
        rows = cursor.fetchall()
    except duckdb.Error as e:
        raise QueryError(f"DuckDB: {e}") from None
    names = [c[0] for c in cursor.description]
    types = [str(c[1]) for c in cursor.description]
    return names, types, rows


def as_instant(value):
    """A timestamp as an aware UTC datetime: DuckDB's naive ones are UTC, Hearth's are RFC 3339."""
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc)
    return value


def normalise(rows, types):
    """Rows with timestamp columns (by DuckDB's column types) as instants."""
    time_columns = [i for i, t in enumerate(types) if t.startswith("TIMESTAMP")]
    out = []
    for row in rows:
        row = list(row)
        for i in time_columns:
            row[i] = as_instant(row[i])
        out.append(tuple(row))
    return out


def hearth_rows(objects, names):
    """Hearth's JSON objects as tuples in DuckDB's column order; QueryError on other columns."""
    known = set(names)
    for obj in objects:
        extra = [k for k in obj if k not in known]
        if extra:
            raise QueryError(f"Hearth answered columns {extra}, DuckDB has {names}")
    return [tuple(obj.get(n) for n in names) for obj in objects]


def sort_key(row):
    """A total order on rows of mixed value kinds (None first, kinds never compared)."""
    def key(v):
        if v is None:
            return (0, 0)
        if isinstance(v, (int, float)):
            return (1, v)
        if isinstance(v, str):
            return (2, v)
        if isinstance(v, datetime.datetime):
            return (3, v)
        return (4, repr(v))
    return tuple(key(v) for v in row)


def values_equal(a, b):
    """Floats within relative 1e-9, everything else exactly."""
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, (int, float)) and isinstance(b, (int, float))
                and math.isclose(a, b, rel_tol=1e-9))
    return a == b and type(a) is type(b)


def first_difference(hearth, duck):
    """The index of the first differing row, or None if the answers match."""
    for i, (h, d) in enumerate(zip(hearth, duck)):
        if not all(values_equal(x, y) for x, y in zip(h, d)):
            return i
    if len(hearth) != len(duck):
        return min(len(hearth), len(duck))
    return None


def show_row(names, rows, index):
    """One row as `{column: value}` text, or a note that there is none."""
    if index >= len(rows):
        return "(no row)"
    return "{" + ", ".join(f"{n}: {v!r}" for n, v in zip(names, rows[index])) + "}"


def check(sql, ordered, hearth_url, db, con):
    """Run sql on both engines: (rows, hearth seconds, duckdb seconds, failure text or None)."""
    began = time.perf_counter()
    try:
        objects = run_hearth(hearth_url, db, sql)
    except QueryError as e:
        return 0, None, None, f"Hearth rejected the query: {e}"
    hearth_s = time.perf_counter() - began
    began = time.perf_counter()
    try:
        names, types, duck = run_duckdb(con, sql)
    except QueryError as e:
        return len(objects), hearth_s, None, str(e)
    duck_s = time.perf_counter() - began
    try:
        hearth = normalise(hearth_rows(objects, names), types)
    except QueryError as e:
        return len(objects), hearth_s, duck_s, str(e)
    duck = normalise(duck, types)
    if not ordered:
        hearth.sort(key=sort_key)
        duck.sort(key=sort_key)
    index = first_difference(hearth, duck)
    if index is None:
        return len(duck), hearth_s, duck_s, None
    return len(duck), hearth_s, duck_s, (
        f"rows: Hearth {len(hearth)}, DuckDB {len(duck)}; "
        f"first difference at row {index}{'' if ordered else ' (both sorted)'}:\n"
        f"    Hearth: {show_row(names, hearth, index)}\n"
        f"    DuckDB: {show_row(names, duck, index)}")


def milliseconds(seconds):
    """The median of a list of durations as text in ms, '-' if there are none."""
    return f"{statistics.median(seconds) * 1000:9.1f} ms" if seconds else "        - ms"


def run_all(queries, hearth_url, db, con):
    """Check every query, print one line per type and the failures; True if all match."""
    failures = []
    for name in dict.fromkeys(q[0] for q in queries):
        rows, hearth_times, duck_times, bad = [], [], [], 0
        for _, sql, ordered in (q for q in queries if q[0] == name):
            count, hearth_s, duck_s, failure = check(sql, ordered, hearth_url, db, con)
            rows.append(str(count))
            if hearth_s is not None:
                hearth_times.append(hearth_s)
            if duck_s is not None:
                duck_times.append(duck_s)
            if failure:
                bad += 1
                failures.append((name, sql, failure))
        status = "ok" if not bad else f"FAIL {bad}/{len(rows)}"
        print(f"{name:<24} {status:<9} rows {'/'.join(rows):<14} "
              f"hearth {milliseconds(hearth_times)}  duckdb {milliseconds(duck_times)}",
              flush=True)
    for name, sql, failure in failures:
        print(f"\n--- {name}\n    {sql}\n  {failure}")
    return not failures


def main():
    """Parse arguments, load the data, then print the queries or check them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--http", help="Hearth's base URL, e.g. http://127.0.0.1:8086")
    parser.add_argument("--db", help="the Hearth database holding the file's rows")
    parser.add_argument("--lines", required=True, help="the line-protocol file")
    parser.add_argument("--seed", type=int, default=1, help="seed of the draws (default 1)")
    parser.add_argument("--rounds", type=int, default=2, help="draws per type (default 2)")
    parser.add_argument("--types", default=",".join(q[0] for q in QUERY_TYPES),
                        help="comma-separated query types (default: all)")
    parser.add_argument("--print-queries", action="store_true",
                        help='print [{"type", "sql"}] as JSON and exit')
    args = parser.parse_args()
    types = args.types.split(",")
    unknown = set(types) - {q[0] for q in QUERY_TYPES}
    if unknown:
        parser.error(f"unknown query types: {', '.join(sorted(unknown))}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not args.print_queries and not (args.http and args.db):
        parser.error("--http and --db are required unless --print-queries")

    ds = read_line_protocol(args.lines)
    queries = draw_queries(ds, args.seed, args.rounds, types)
    if args.print_queries:
        json.dump([{"type": name, "sql": sql} for name, sql, _ in queries], sys.stdout, indent=1)
        print()
        return 0
    con = load_duckdb(ds)
    return 0 if run_all(queries, args.http, args.db, con) else 1


if __name__ == "__main__":
    sys.exit(main())
