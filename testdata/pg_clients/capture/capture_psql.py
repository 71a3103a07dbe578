#!/usr/bin/env python3
"""Run each psql meta-command twice (with -E, then without), slice the server log,
and write OUTDIR/psql_<name>.sql (+ .out = psql's printed output without -E).

usage: capture_psql.py OUTDIR   (server on 127.0.0.1:54329, log at /tmp/pgcapture/log/pg.log)
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, "/tmp/pgcapture")
import logtool  # noqa: E402

D = sys.argv[1]
CMDS = {"l": "\\l", "l_plus": "\\l+", "dn": "\\dn", "dn_plus": "\\dn+", "dt": "\\dt",
        "dt_plus": "\\dt+", "d": "\\d", "d_energy": "\\d energy", "d_plus_energy": "\\d+ energy",
        "df": "\\df", "dv": "\\dv", "dx": "\\dx", "du": "\\du", "di": "\\di", "dT": "\\dT"}
BASE = ["psql", "-X", "-h", "127.0.0.1", "-p", "54329", "-U", "postgres", "-d", "home"]
ver = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()

for name, cmd in CMDS.items():
    off = os.path.getsize(logtool.LOG)
    echo = subprocess.run(BASE + ["-E", "-c", cmd], capture_output=True, text=True).stdout
    time.sleep(0.3)
    end = os.path.getsize(logtool.LOG)
    out = subprocess.run(BASE + ["-c", cmd], capture_output=True, text=True)
    st = logtool.statements(off, None, None, end)
    # psql -E echoes each query between '********* QUERY **********' markers: must match the log
    qs = re.findall(r"\*{9} QUERY \*{10}\n(.*?)\n\*{26}\n", echo, re.S)
    assert qs == [s["sql"] for s in st], name
    hdr = f"""-- Client: {ver}
-- Server: PostgreSQL 15.18 (Debian 15.18-0+deb12u1), database "home", user postgres (superuser)
-- Command: psql -X -E -h 127.0.0.1 -p 54329 -U postgres -d home -c '{cmd}'
-- Captured from the server log (log_statement = 'all'); identical to psql -E's echo.
-- Statements are in the order sent; each terminated by a line containing only ';;'.
-- All are sent with the simple query protocol (Query message), one statement per message."""
    if any("'16385'" in s["sql"] for s in st):
        hdr += ("\n-- NOTE: '16385' is the pg_class.oid of public.energy, taken by psql from the result of"
                "\n--       the first query; substitute the OID your server returned.")
    hdr += f"\n-- Expected psql output against real PostgreSQL: psql_{name}.out"
    open(f"{D}/psql_{name}.sql", "w").write(logtool.render(st, hdr))
    open(f"{D}/psql_{name}.out", "w").write(out.stdout + out.stderr)
    print(name, len(st))
