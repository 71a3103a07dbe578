#!/usr/bin/env python3
"""psycopg 3 and SQLAlchemy against a running Hearth whose database `home` holds `energy`
(household, meter tags; import_kwh, power_w fields; rows h1 and h2 of the integration tests).

Checks, with real drivers: the connection (server version, parameters), queries with typed
parameters in text and binary, errors with their SQLSTATE on a connection that stays usable,
COPY in and out, and SQLAlchemy's reflection and queries. Prints what it checked; exits 1 with
the first difference.

    python3 pg_python_clients.py --port 5432
"""

import argparse
import datetime
import sys

import psycopg
import sqlalchemy
from sqlalchemy import inspect, text


def check(what, got, want):
    if got != want:
        print(f"FAIL {what}: got {got!r}, want {want!r}")
        sys.exit(1)
    print(f"ok   {what}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    dsn = f"host={args.host} port={args.port} dbname=home user=analyst"

    with psycopg.connect(dsn, autocommit=True) as conn:
        check("server_version as libpq reads it", conn.info.server_version // 10000, 16)
        check("parameter status client_encoding", conn.info.parameter_status("client_encoding"), "UTF8")
        check("parameter status DateStyle", conn.info.parameter_status("DateStyle"), "ISO, MDY")
        since = datetime.datetime(2025, 11, 24, 16, 0, 30, tzinfo=datetime.timezone.utc)
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            cur.execute(
                "SELECT household, power_w, time FROM energy WHERE time >= %s AND power_w > %s",
                (since, 1.5),
            )
            rows = cur.fetchall()
            check(f"typed parameters, {'binary' if binary else 'text'} results", rows,
                  [("h2", 100.5, datetime.datetime(2025, 11, 24, 16, 1, tzinfo=datetime.timezone.utc))])
        cur = conn.cursor()
        cur.execute("SELECT count(*), sum(import_kwh) FROM energy WHERE household = ANY(%s)", (["h1", "h2"],))
        check("an array parameter", cur.fetchone(), (2, 4.0))
        try:
            cur.execute("SELECT * FROM nope")
            check("an unknown table fails", "no error", "an error")
        except psycopg.errors.UndefinedTable as e:
            check("an unknown table is UndefinedTable (42P01)", e.sqlstate, "42P01")
        try:
            cur.execute("SELECT household FROM energy WHERE power_w > %s", ("lots",))
            check("a bad parameter fails", "no error", "an error")
        except psycopg.Error as e:
            check("a bad parameter is a data error (22xxx)", (e.sqlstate or "")[:2], "22")
        cur.execute("SELECT 1")
        check("the connection goes on after errors", cur.fetchone(), (1,))
        # COPY both ways.
        with cur.copy("COPY energy (household, meter, power_w, time) FROM STDIN") as copy:
            copy.write_row(("h7", "m1", 7.5, "2025-11-24 16:07:00+00"))
            copy.write_row(("h8", "m1", 8.5, datetime.datetime(2025, 11, 24, 16, 8, tzinfo=datetime.timezone.utc)))
        check("COPY FROM STDIN rows", cur.rowcount, 2)
        out = []
        with cur.copy("COPY (SELECT household, power_w FROM energy WHERE household IN ('h7', 'h8') ORDER BY 1) TO STDOUT (FORMAT csv)") as copy:
            for block in copy:
                out.append(bytes(block).decode())
        check("COPY TO STDOUT", "".join(out), "h7,7.5\nh8,8.5\n")
        cur.execute("DELETE FROM energy WHERE household IN (%s, %s)", ("h7", "h8"))
        check("DELETE with parameters", cur.rowcount, 2)

    # SQLAlchemy 2 on psycopg: dialect start-up (version(), SHOW, to_regtype), reflection, queries.
    engine = sqlalchemy.create_engine(f"postgresql+psycopg://analyst@{args.host}:{args.port}/home")
    with engine.connect() as conn:
        check("SQLAlchemy server version", conn.dialect.server_version_info[0], 16)
        insp = inspect(conn)
        check("reflected tables", insp.get_table_names(), ["energy"])
        columns = {c["name"]: (type(c["type"]).__name__, c["nullable"]) for c in insp.get_columns("energy")}
        check("reflected columns", columns, {
            "household": ("TEXT", True),
            "meter": ("TEXT", True),
            "import_kwh": ("DOUBLE_PRECISION", True),
            "power_w": ("DOUBLE_PRECISION", True),
            "time": ("TIMESTAMP", False),
        })
        check("no primary key", insp.get_pk_constraint("energy")["constrained_columns"], [])
        check("no indexes", insp.get_indexes("energy"), [])
        energy = sqlalchemy.Table("energy", sqlalchemy.MetaData(), autoload_with=conn)
        rows = conn.execute(
            sqlalchemy.select(energy.c.household, energy.c.power_w)
            .where(energy.c.power_w > 150)
        ).all()
        check("a query built from the reflected table", [tuple(r) for r in rows], [("h1", 230.0)])
        rows = conn.execute(text("SELECT household FROM energy WHERE meter = :m ORDER BY 1"), {"m": "m1"}).all()
        check("text() with a bound parameter", [r[0] for r in rows], ["h1", "h2"])
    print("all checks passed")


if __name__ == "__main__":
    main()
