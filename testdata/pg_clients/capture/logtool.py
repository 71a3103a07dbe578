#!/usr/bin/env python3
"""Helpers to slice the PostgreSQL server log and turn it into fixture files.

usage:
  logtool.py mark                      -> prints current byte size of the log
  logtool.py dump OFFSET               -> prints parsed entries after OFFSET
  logtool.py fixture OFFSET OUT HEADERFILE [--pid-filter APP]
"""
import os
import re
import sys

LOG = "/tmp/pgcapture/log/pg.log"
HEAD = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \w+) \[(\d+)\] \[(.*?)\] (\S*)@(\S*) (\w+):  (.*)$"
)


def entries(offset, end=None):
    with open(LOG, "rb") as f:
        f.seek(offset)
        data = (f.read() if end is None else f.read(end - offset)).decode("utf-8", "replace")
    out = []
    for line in data.split("\n"):
        m = HEAD.match(line)
        if m:
            ts, pid, app, user, db, level, msg = m.groups()
            out.append(dict(ts=ts, pid=int(pid), app=app, user=user, db=db,
                            level=level, msg=msg))
        elif out and line.startswith("\t"):
            out[-1]["msg"] += "\n" + line[1:]
        elif out and line:
            out[-1]["msg"] += "\n" + line
    return out


STMT = re.compile(r"^(statement|execute (\S+?)(?:/(\S+))?|duration: [\d.]+ ms  (parse|bind|execute) (\S+?)(?:/(\S+))?): (.*)$", re.S)


def statements_range(offset, end, apps=None, skip=None):
    return statements(offset, apps, skip, end)


def statements(offset, apps=None, skip=None, end=None):
    """Yield dicts {kind, name, portal, sql, params, pid, app}."""
    res = []
    for e in entries(offset, end):
        if apps and e["app"] not in apps:
            continue
        if skip and skip(e):
            continue
        if e["level"] == "LOG":
            msg = e["msg"]
            if msg.startswith("statement: "):
                res.append(dict(kind="simple", name=None, portal=None,
                                sql=msg[len("statement: "):], params=None,
                                pid=e["pid"], app=e["app"]))
                continue
            m = re.match(r"^execute (\S+?): (.*)$", msg, re.S)
            if m:
                name = m.group(1)
                stmt, portal = (name.split("/", 1) + [None])[:2]
                res.append(dict(kind="extended", name=stmt, portal=portal,
                                sql=m.group(2), params=None,
                                pid=e["pid"], app=e["app"]))
                continue
            m = re.match(r"^execute fetch from (\S+?): (.*)$", msg, re.S)
            if m:
                name = m.group(1)
                stmt, portal = (name.split("/", 1) + [None])[:2]
                res.append(dict(kind="fetch", name=stmt, portal=portal,
                                sql=m.group(2), params=None,
                                pid=e["pid"], app=e["app"]))
                continue
        elif e["level"] == "DETAIL" and res and e["msg"].startswith("parameters: "):
            if res[-1]["pid"] == e["pid"]:
                res[-1]["params"] = e["msg"][len("parameters: "):]
    return res


def render(stmts, header):
    lines = []
    for h in header.rstrip("\n").split("\n"):
        lines.append(h if h.startswith("--") else "-- " + h)
    lines.append("")
    for s in stmts:
        meta = []
        if s.get("note"):
            meta.append(s["note"])
        if s["kind"] == "simple":
            meta.append("-- protocol: simple")
        elif s["kind"] == "extended":
            nm = s["name"] if s["name"] != "<unnamed>" else "unnamed"
            meta.append("-- protocol: extended; statement: %s%s" % (
                nm, "; portal: %s" % s["portal"] if s["portal"] else ""))
        elif s["kind"] == "fetch":
            meta.append("-- protocol: extended; FETCH (another Execute on the still-open portal) statement: %s; portal: %s" % (s["name"] if s["name"] != "<unnamed>" else "unnamed", s["portal"]))
        if s["params"]:
            for i, p in enumerate(s["params"].split("\n")):
                meta.append("-- params: " + p if i == 0 else "--         " + p)
        lines.extend(meta)
        lines.append(s["sql"].rstrip("\n"))
        lines.append(";;")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "mark":
        print(os.path.getsize(LOG))
    elif cmd == "dump":
        for e in entries(int(sys.argv[2])):
            print(e["pid"], e["app"], e["level"], e["msg"].replace("\n", "\n    "))
    elif cmd == "fixture":
        off = int(sys.argv[2])
        out = sys.argv[3]
        header = open(sys.argv[4]).read()
        apps = sys.argv[5].split(",") if len(sys.argv) > 5 and sys.argv[5] else None
        st = statements(off, apps)
        with open(out, "w") as f:
            f.write(render(st, header))
        print("wrote", out, len(st), "statements")
