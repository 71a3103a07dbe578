#!/usr/bin/env python3
"""Generate testdata/pg_clients fixtures for non-psql clients from the
server log + mark files, and copy wire traces."""
import json
import shutil
import sys

sys.path.insert(0, "/tmp/pgcapture")
import build_marked  # noqa: E402

D = sys.argv[1] if len(sys.argv) > 1 else "/work/main/testdata/pg_clients"

# pgjdbc: T.java prints MARK<TAB>label<TAB>offset lines; turn them into the json build_marked reads
import os  # noqa: E402
for _n in ["metadata", "prepared", "prepared_threshold1"]:
    _p = "/tmp/pgcapture/out/jdbc/%s.stdout" % _n
    if os.path.exists(_p):
        _marks = [(l.split("\t")[1], int(l.split("\t")[2])) for l in open(_p) if l.startswith("MARK\t")]
        json.dump({"app": None, "marks": _marks}, open("/tmp/pgcapture/out/jdbc/%s.json" % _n, "w"))
SERVER = "-- Server: PostgreSQL 15.18 (Debian 15.18-0+deb12u1), database \"home\", user postgres (superuser, trust auth), TimeZone Etc/UTC"
COMMON = """-- Captured from the server log (log_statement = 'all'; extended-protocol statements appear as
-- 'execute <name>' with a 'parameters:' DETAIL line, rendered here as '-- params:').
-- CAUTION: '-- params:' values are the SERVER's re-rendering of the bound values after type
-- resolution (e.g. a binary float8 1.0 shows as '1', node's '2024-01-02T00:00:00.000+00:00'
-- shows as '2024-01-02 00:00:00+00'). The raw bytes/type OIDs/formats are in the .wire.txt.
-- Statements are in the order sent; each terminated by a line containing only ';;'.
-- '-- api:' marks the client call that produced the statements that follow.
-- '-- protocol: simple' = Query message; 'extended' = Parse/Bind/Execute (see the matching
-- .wire.txt for message-level detail: parameter type OIDs, formats, Describe, Sync, etc.)."""
OIDNOTE = "-- NOTE: '16385' is pg_class.oid of public.energy (a value returned by an earlier statement)."

scenarios = [
    # (json, outname, header lines, use_app, wire dir)
    ("out/py/psycopg.json", "sqlalchemy21_psycopg_inspect", [
        "-- Client: SQLAlchemy 2.1.9 + psycopg 3.3.9 (psycopg-binary, bundled libpq 18.6), Python 3.11.7",
        "-- Script: /tmp/pgcapture/sa_capture.py psycopg  (create_engine('postgresql+psycopg://postgres@127.0.0.1:PORT/home'),",
        "--         connect + two text() queries, then inspect(engine).get_*(...) calls)",
    ], True, "psycopg"),
    ("out/py/psycopg2.json", "sqlalchemy21_psycopg2_inspect", [
        "-- Client: SQLAlchemy 2.1.9 + psycopg2-binary 2.9.13 (libpq 17.11), Python 3.11.7",
        "-- Script: /tmp/pgcapture/sa_capture.py psycopg2  (create_engine('postgresql+psycopg2://...'))",
        "-- NOTE: psycopg2 interpolates parameters client-side: everything is simple-protocol text.",
    ], True, "psycopg2"),
    ("out/py/sa20_psycopg.json", "sqlalchemy20_psycopg_inspect", [
        "-- Client: SQLAlchemy 2.0.58 + psycopg 3.3.9 (psycopg-binary), Python 3.11.7",
        "-- Script: /tmp/pgcapture/sa_capture.py psycopg  run from a venv with 'sqlalchemy<2.1'",
    ], True, "sa20_psycopg"),
    ("out/py/sa20_psycopg2.json", "sqlalchemy20_psycopg2_inspect", [
        "-- Client: SQLAlchemy 2.0.58 + psycopg2-binary 2.9.13, Python 3.11.7",
        "-- Script: /tmp/pgcapture/sa_capture.py psycopg2  run from a venv with 'sqlalchemy<2.1'",
    ], True, "sa20_psycopg2"),
    ("out/py/pandas.json", "pandas_read_sql", [
        "-- Client: pandas 3.1.1 + SQLAlchemy 2.1.9 + psycopg 3.3.9, Python 3.11.7",
        "-- Script: /tmp/pgcapture/sa_capture.py pandas",
        "-- NOTE: pd.read_sql('SELECT ...', engine) first runs has_table() with the WHOLE query text as",
        "--       the table name, then the query; pd.read_sql('energy', engine) reflects the table.",
    ], True, "pandas"),
    ("out/py/psycopg3_basic.json", "psycopg_basic", [
        "-- Client: psycopg 3.3.9 (psycopg-binary, libpq 18.6), Python 3.11.7, no SQLAlchemy",
        "-- Script: /tmp/pgcapture/sa_capture.py psycopg3_basic",
        "-- NOTE: without params psycopg 3 uses the simple protocol; with params it uses the unnamed",
        "--       extended statement (str -> type 0/unknown text, float -> float8 BINARY); prepare=True",
        "--       uses a named statement '_pg3_0' (Parse+Sync once, then Bind/Describe/Execute/Sync).",
    ], True, "psycopg3_basic"),
    ("out/py/psycopg2_basic.json", "psycopg2_basic", [
        "-- Client: psycopg2-binary 2.9.13 (libpq 17.11), Python 3.11.7, no SQLAlchemy",
        "-- Script: /tmp/pgcapture/sa_capture.py psycopg2_basic",
    ], True, "psycopg2_basic"),
    ("out/jdbc/metadata.json", "pgjdbc_metadata", [
        "-- Client: PostgreSQL JDBC Driver 42.5.5 (Debian libpostgresql-jdbc-java 42.5.5-0+deb12u1), OpenJDK 17.0.15",
        "-- Program: /tmp/pgcapture/java/T.java metadata  (java -cp /usr/share/java/postgresql.jar T.java metadata PORT)",
        "-- Startup packet (from wire trace): user, database, client_encoding=UTF8, DateStyle=ISO,",
        "--   TimeZone=<JVM zone, here Etc/UTC>, extra_float_digits=2 ; then SET extra_float_digits = 3 and",
        "--   SET application_name = 'PostgreSQL JDBC Driver' (both Parse/Bind/Execute(maxrows=1), no Describe).",
        "-- NOTE: getCatalogs() and getTableTypes() send no SQL in 42.5.5. Metadata queries inline literals.",
    ], False, "jdbc_metadata"),
    ("out/jdbc/prepared.json", "pgjdbc_prepared", [
        "-- Client: PostgreSQL JDBC Driver 42.5.5, OpenJDK 17.0.15, default prepareThreshold=5",
        "-- Program: /tmp/pgcapture/java/T.java prepared  (URL jdbc:postgresql://127.0.0.1:PORT/home?user=postgres)",
        "-- NOTE: executions 1-4 use the unnamed statement; the 5th Parses named 'S_1' (+Describe S),",
        "--       the 6th Binds S_1 requesting BINARY results for float8/timestamptz columns.",
        "--       setTimestamp -> param type 0 (unspecified) text '2024-01-01 00:00:00+00';",
        "--       setString -> 1043 (varchar) text; setDouble -> 701 (float8) BINARY.",
        "--       setFetchSize(2) with autocommit off -> named portal C_n, Execute maxrows=2, PortalSuspended.",
    ], False, "jdbc_prepared"),
    ("out/jdbc/prepared_threshold1.json", "pgjdbc_prepared_threshold1", [
        "-- Client: PostgreSQL JDBC Driver 42.5.5, OpenJDK 17.0.15, prepareThreshold=1",
        "-- Program: /tmp/pgcapture/java/T.java prepared PORT '&prepareThreshold=1'",
        "-- NOTE: every statement (even BEGIN/COMMIT and the pg_settings query) becomes a named",
        "--       server-side statement S_n on first use and is re-Bound afterwards.",
    ], False, "jdbc_prepared_threshold1"),
    ("out/node/node_pg.json", "node_pg_basic", [
        "-- Client: node-postgres (pg) 8.23.1, Node.js v20.20.2",
        "-- Script: /tmp/pgcapture/node/t.js PORT",
        "-- NOTE: no SSLRequest; startup has client_encoding=UTF8. Queries without values use the simple",
        "--       protocol (multi-statement allowed); with values: Parse with NO param types (all 0),",
        "--       all params text; JS Date is sent as '2024-01-02T00:00:00.000+00:00'.",
        "--       {name: ...} queries Parse a named statement once and re-Bind it.",
    ], True, "node_pg"),
]

index = []
for js, name, hdr, use_app, wire in scenarios:
    st = build_marked.build("/tmp/pgcapture/" + js, "", None, use_app)
    header = "\n".join(hdr + [SERVER, COMMON])
    if any("16385" in (s["sql"] + (s["params"] or "")) for s in st):
        header += "\n" + OIDNOTE
    header += "\n-- Wire-protocol trace of the same run: %s.wire.txt" % name
    import logtool
    with open("%s/%s.sql" % (D, name), "w") as f:
        f.write(logtool.render(st, header))
    shutil.copy("/tmp/pgcapture/wire/%s/conn-001.txt" % wire, "%s/%s.wire.txt" % (D, name))
    index.append((name, len(st)))
for n, c in index:
    print(n, c)
