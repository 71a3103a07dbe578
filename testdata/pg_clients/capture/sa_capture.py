"""Run SQLAlchemy / psycopg / psycopg2 / pandas scenarios; record log offsets
around each API call so the statements can be attributed to calls.

usage: python sa_capture.py <scenario> <outjson>
"""
import json
import os
import sys
import time

LOG = "/tmp/pgcapture/log/pg.log"
DSN_HOST = "127.0.0.1"
PORT = int(os.environ.get("PGCAP_PORT", "54329"))

marks = []


def mark(label):
    time.sleep(0.15)
    marks.append((label, os.path.getsize(LOG)))


def sa_inspect(driver):
    import sqlalchemy
    from sqlalchemy import create_engine, inspect, text
    app = "cap_sa_" + driver
    url = f"postgresql+{driver}://postgres@{DSN_HOST}:{PORT}/home"
    engine = create_engine(url, connect_args={"application_name": app})
    mark("engine.connect() (dialect initialize)")
    with engine.connect() as conn:
        mark("conn.execute(text('SELECT ... WHERE household = :h'), {'h': 'h1'})")
        rows = conn.execute(text("SELECT household, meter, import_kwh, power_w, time FROM energy WHERE household = :h ORDER BY time"), {"h": "h1"}).fetchall()
        print(rows)
        mark("conn.execute(text('SELECT count(*) FROM energy'))")
        print(conn.execute(text("SELECT count(*) FROM energy")).scalar())
        mark("end of connection block (rollback on exit)")
    insp = inspect(engine)
    out = {}
    calls = [
        ("inspect(engine).get_schema_names()", lambda: insp.get_schema_names()),
        ("inspect(engine).get_table_names()", lambda: insp.get_table_names()),
        ("inspect(engine).get_view_names()", lambda: insp.get_view_names()),
        ("inspect(engine).has_table('energy')", lambda: insp.has_table("energy")),
        ("inspect(engine).has_table('nope')", lambda: insp.has_table("nope")),
        ("inspect(engine).get_columns('energy')", lambda: insp.get_columns("energy")),
        ("inspect(engine).get_pk_constraint('energy')", lambda: insp.get_pk_constraint("energy")),
        ("inspect(engine).get_indexes('energy')", lambda: insp.get_indexes("energy")),
        ("inspect(engine).get_foreign_keys('energy')", lambda: insp.get_foreign_keys("energy")),
        ("inspect(engine).get_unique_constraints('energy')", lambda: insp.get_unique_constraints("energy")),
        ("inspect(engine).get_check_constraints('energy')", lambda: insp.get_check_constraints("energy")),
        ("inspect(engine).get_table_comment('energy')", lambda: insp.get_table_comment("energy")),
    ]
    for label, fn in calls:
        mark(label)
        try:
            out[label] = repr(fn())
        except Exception as e:  # noqa
            out[label] = "ERROR " + repr(e)
    mark("end")
    engine.dispose()
    mark("engine.dispose()")
    return app, {"sqlalchemy": sqlalchemy.__version__, "results": out}


def pandas_scenario():
    import pandas as pd
    import sqlalchemy
    from sqlalchemy import create_engine
    app = "cap_pandas"
    engine = create_engine(f"postgresql+psycopg://postgres@{DSN_HOST}:{PORT}/home",
                           connect_args={"application_name": app})
    out = {}
    mark("pd.read_sql('SELECT * FROM energy', engine)")
    out["read_sql query"] = pd.read_sql("SELECT * FROM energy", engine).to_string()
    mark("pd.read_sql_query('SELECT ... WHERE household = %(h)s', engine, params={'h':'h2'})")
    out["read_sql_query params"] = pd.read_sql_query("SELECT * FROM energy WHERE household = %(h)s", engine, params={"h": "h2"}).to_string()
    mark("pd.read_sql('energy', engine)  (table name -> read_sql_table)")
    out["read_sql table"] = pd.read_sql("energy", engine).to_string()
    mark("end")
    engine.dispose()
    return app, {"pandas": pd.__version__, "sqlalchemy": sqlalchemy.__version__, "results": out}


def psycopg3_basic():
    import psycopg
    app = "cap_psycopg3"
    out = {}
    mark("psycopg.connect()")
    with psycopg.connect(host=DSN_HOST, port=PORT, user="postgres", dbname="home", application_name=app) as conn:
        mark("cur.execute('SELECT * FROM energy ORDER BY time')  (no params)")
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM energy ORDER BY time")
            out["noparams"] = repr(cur.fetchall())
            mark("cur.execute('... WHERE household = %s AND power_w > %s', ('h1', 1.0))")
            cur.execute("SELECT * FROM energy WHERE household = %s AND power_w > %s", ("h1", 1.0))
            out["params"] = repr(cur.fetchall())
            mark("cur.execute(..., prepare=True) x2")
            for _ in range(2):
                cur.execute("SELECT count(*) FROM energy WHERE household = %s", ("h2",), prepare=True)
                cur.fetchall()
            mark("conn.commit()")
        conn.commit()
        mark("conn.info.parameter_status(...)")
        names = ["server_version", "server_encoding", "client_encoding", "DateStyle", "TimeZone",
                 "integer_datetimes", "standard_conforming_strings", "IntervalStyle", "is_superuser",
                 "application_name", "session_authorization", "in_hot_standby",
                 "default_transaction_read_only", "scram_iterations"]
        out["parameter_status"] = {n: conn.info.parameter_status(n) for n in names}
        out["protocol_version"] = conn.info.pgconn.protocol_version
        out["server_version_num"] = conn.info.server_version
    mark("end")
    return app, {"psycopg": psycopg.__version__, "libpq": psycopg.pq.version(), "results": out}


def psycopg2_basic():
    import psycopg2
    app = "cap_psycopg2"
    out = {}
    mark("psycopg2.connect()")
    conn = psycopg2.connect(host=DSN_HOST, port=PORT, user="postgres", dbname="home", application_name=app)
    mark("cur.execute('SELECT * FROM energy ORDER BY time')  (no params)")
    cur = conn.cursor()
    cur.execute("SELECT * FROM energy ORDER BY time")
    out["noparams"] = repr(cur.fetchall())
    mark("cur.execute('... WHERE household = %s AND power_w > %s', ('h1', 1.0))")
    cur.execute("SELECT * FROM energy WHERE household = %s AND power_w > %s", ("h1", 1.0))
    out["params"] = repr(cur.fetchall())
    mark("conn.commit()")
    conn.commit()
    mark("conn.close()")
    conn.close()
    mark("end")
    return app, {"psycopg2": psycopg2.__version__, "results": out}


if __name__ == "__main__":
    sc = sys.argv[1]
    if sc in ("psycopg", "psycopg2"):
        app, info = sa_inspect(sc)
    elif sc == "pandas":
        app, info = pandas_scenario()
    elif sc == "psycopg3_basic":
        app, info = psycopg3_basic()
    elif sc == "psycopg2_basic":
        app, info = psycopg2_basic()
    else:
        raise SystemExit("unknown scenario")
    info["app"] = app
    info["marks"] = marks
    with open(sys.argv[2], "w") as f:
        json.dump(info, f, indent=1, default=str)
