#!/usr/bin/env python3
"""Runs the statements of client-corpus fixtures against a server and reports what PostgreSQL
would not have done.

The fixtures (testdata/pg_clients/{dbeaver_metadata,metabase_sync,pgcli_completion,
pgadmin_connect,npgsql_types}.sql, same `;;` format as the other files there) hold the catalog
queries GUI tools and drivers send, each run on PostgreSQL 15 when the file was written; the
`-- pg15:` lines under each statement record what PostgreSQL answered (columns with their type
names, row count, or the error).

Every statement is sent three ways, each on its own connection, in file order (so `SET`s
apply to what follows, as they would for the client):

  simple    one Query message per chunk (a chunk of several statements, like Npgsql's
            type-loading batch, goes as one message, as Npgsql sends it); text results.
  extended  Parse/Bind/Describe/Execute of the unnamed statement, BINARY results (a batch is
            split into its statements, since the extended protocol takes one at a time).
  prepared  a named statement: Parse, Describe statement, then Bind/Execute with BINARY
            results; the statement's RowDescription must match the portal's.

A statement fails when, on the server under test, it
  * errors where PostgreSQL 15 did not (for that protocol),
  * returns a different number of columns than PostgreSQL did, or names one differently
    (clients look result columns up by name), or
  * sends a value that is not valid in the wire format its RowDescription announces (binary:
    the length/layout of int2/int4/oid/reg*/int8/float/bool/"char"/date/timestamp/interval/
    uuid/numeric/arrays; text: bool, integers, floats, oid).
Differently typed columns (e.g. `name` vs `text`) are printed as warnings; with --strict they
fail too.

Differences that are accepted are listed in KNOWN (by the `-- id:` of the statement, with a
one-line reason). OPEN_BUGS lists differences that are bugs still to be fixed: they are
reported as XFAIL and do not fail the run unless --strict; one that no longer happens is
reported as XPASS so it can be removed from the list.

    python3 pg_corpus.py --host 127.0.0.1 --port 5432 [--user U] [--dbname home] FILE.sql [...]

Needs psycopg 3 (only its libpq wrapper `psycopg.pq` is used). Exit status 0 when nothing
failed, 1 with a report otherwise.
"""

import argparse
import os
import re
import struct
import sys

from psycopg import pq

# (statement id, what) -> reason. `what` is "error", "columns", "binary" or "text", optionally
# with ":<mode>" (simple, extended, prepared) to accept it for one protocol only.
KNOWN = {
    ("dbeaver-8", "columns"): "Hearth reports server_version 16: pg_database has PG 16's "
    "daticurules, so db.* is one column wider than on PostgreSQL 15",
}

# Bugs found when the fixtures were written; remove an entry when it is fixed (XPASS says so).
OPEN_BUGS: dict = {}

# --- the fixture format -----------------------------------------------------------------

META = re.compile(r"^-- (id|api|protocol|params|pg15|pg15 \w+|source|note): ?(.*)$")


def chunks(path):
    """[(meta dict, sql)] of a fixture: chunks end at a line `;;`; leading `--` lines are
    metadata (the file header belongs to the first chunk and is ignored)."""
    text = open(path, encoding="utf-8").read()
    out = []
    for chunk in re.split(r"\n;;\n", "\n" + text):
        meta = {"pg15": []}
        lines = chunk.split("\n")
        i = 0
        while i < len(lines) and (lines[i].startswith("--") or not lines[i].strip()):
            m = META.match(lines[i])
            if m:
                key, value = m.group(1), m.group(2)
                if key.startswith("pg15"):
                    meta["pg15"].append((key, value))
                else:
                    meta[key] = value
            i += 1
        sql = "\n".join(lines[i:]).strip("\n")
        if sql.strip() and meta.get("id"):
            out.append((meta, sql))
    return out


def expectation(meta, mode):
    """What PostgreSQL answered for `mode`: a list (one per result) of
    ("error", sqlstate) or ("ok", [(name, type)], rows)."""
    lines = [v for k, v in meta["pg15"] if k == "pg15"]
    special = [v for k, v in meta["pg15"] if k == "pg15 " + ("binary" if mode != "simple" else "text")]
    out = []
    for v in special or lines:
        m = re.match(r"ERROR (\w{5})", v)
        if m:
            out.append(("error", m.group(1)))
            continue
        m = re.match(r"(\d+) columns?: (.*); (\d+) rows?$", v)
        if m:
            cols = []
            for c in split_top(m.group(2)):
                name, _, typ = c.rpartition(" ")
                if len(name) > 1 and name[0] == name[-1] == '"':
                    name = name[1:-1].replace('""', '"')
                cols.append((name, typ))
            out.append(("ok", cols, int(m.group(3))))
        elif re.match(r"0 columns(; .*)?$", v):
            out.append(("ok", [], 0))
    return out


def split_top(s):
    """`a int4, "b, c" text` -> ['a int4', '"b, c" text'] (commas outside double quotes)."""
    parts, buf, quoted = [], "", False
    for ch in s:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append(buf.strip())
            buf = ""
        else:
            buf += ch
    if buf.strip():
        parts.append(buf.strip())
    return parts


def split_sql(sql):
    """A batch's statements: split at top-level `;` (quotes, comments, dollar quotes kept)."""
    parts, start, i, n = [], 0, 0, len(sql)
    while i < n:
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif sql[i] in "'\"":
            q = sql[i]
            i += 1
            while i < n and not (sql[i] == q and not sql.startswith(q + q, i)):
                i += 2 if sql.startswith(q + q, i) else 1
            i += 1
        elif sql[i] == "$" and (m := re.match(r"\$([A-Za-z_]\w*)?\$", sql[i:])):
            j = sql.find(m.group(0), i + m.end())
            i = n if j < 0 else j + m.end()
        elif sql[i] == ";":
            parts.append(sql[start : i + 1])
            start = i = i + 1
        else:
            i += 1
    parts.append(sql[start:])
    code = lambda p: re.sub(r"--[^\n]*|/\*.*?\*/", "", p, flags=re.S).strip(" \n\r\t;")
    return [p.strip("\n") for p in parts if code(p)]


# --- wire-format checks ------------------------------------------------------------------

TYPE_NAMES = {
    16: "bool", 17: "bytea", 18: "char", 19: "name", 20: "int8", 21: "int2", 22: "int2vector",
    23: "int4", 24: "regproc", 25: "text", 26: "oid", 27: "tid", 28: "xid", 29: "cid",
    30: "oidvector", 114: "json", 194: "pg_node_tree", 700: "float4", 701: "float8",
    705: "unknown", 1033: "aclitem", 1042: "bpchar", 1043: "varchar", 1082: "date",
    1083: "time", 1114: "timestamp", 1184: "timestamptz", 1186: "interval", 1700: "numeric",
    2202: "regprocedure", 2203: "regoper", 2204: "regoperator", 2205: "regclass",
    2206: "regtype", 2950: "uuid", 3734: "regconfig", 3769: "regdictionary", 3802: "jsonb",
    4089: "regnamespace", 4096: "regrole", 4191: "regcollation", 5069: "xid8",
    1000: "bool[]", 1001: "bytea[]", 1002: "char[]", 1003: "name[]", 1005: "int2[]",
    1006: "int2vector[]", 1007: "int4[]", 1008: "regproc[]", 1009: "text[]", 1028: "oid[]",
    1010: "tid[]", 1011: "xid[]", 1012: "cid[]", 1013: "oidvector[]", 1014: "bpchar[]",
    1015: "varchar[]", 1016: "int8[]", 1021: "float4[]", 1022: "float8[]", 1034: "aclitem[]",
    1115: "timestamp[]", 1182: "date[]", 1185: "timestamptz[]", 1187: "interval[]",
    1231: "numeric[]", 2207: "regprocedure[]", 2210: "regclass[]", 2211: "regtype[]",
    199: "json[]", 3807: "jsonb[]", 2951: "uuid[]", 4090: "regnamespace[]",
}
FIXED = {16: 1, 18: 1, 21: 2, 23: 4, 20: 8, 700: 4, 701: 8, 1082: 4, 1083: 8, 1114: 8,
         1184: 8, 1186: 16, 2950: 16, 27: 6, 5069: 8}
for _oid in (24, 26, 28, 29, 2202, 2203, 2204, 2205, 2206, 3734, 3769, 4089, 4096, 4191):
    FIXED[_oid] = 4
ARRAYS = {22: 21, 30: 26}  # int2vector, oidvector: arrays on the wire
for _oid, _name in TYPE_NAMES.items():
    if _name.endswith("[]"):
        _elem = [o for o, n in TYPE_NAMES.items() if n == _name[:-2]]
        if _elem:
            ARRAYS[_oid] = _elem[0]
TEXTLIKE = {19, 25, 705, 1042, 1043, 114, 194}


def check_binary(oid, data):
    """None if `data` is a valid binary value of type `oid` (as far as checked), else why."""
    if oid in FIXED:
        if len(data) != FIXED[oid]:
            return f"{TYPE_NAMES[oid]} must be {FIXED[oid]} bytes, got {len(data)}: {data[:24]!r}"
        if oid == 16 and data not in (b"\0", b"\1"):
            return f"bool byte {data!r}"
        return None
    if oid in TEXTLIKE:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return f"{TYPE_NAMES[oid]} is not UTF-8"
        return None
    if oid == 1700:
        if len(data) < 8:
            return "numeric shorter than its header"
        ndigits, _weight, sign, _dscale = struct.unpack("!hhHh", data[:8])
        if sign not in (0, 0x4000, 0xC000, 0xD000, 0xF000) or len(data) != 8 + 2 * ndigits:
            return f"numeric header {data[:8].hex()} with {len(data)} bytes"
        return None
    if oid in ARRAYS:
        return check_array(ARRAYS[oid], data)
    return None


def check_array(elem, data):
    try:
        ndim, flags, elemtype = struct.unpack("!iiI", data[:12])
        if ndim < 0 or ndim > 6 or flags not in (0, 1):
            return f"array header ndim={ndim} flags={flags}: {data[:24].hex()}"
        if ndim and elemtype != elem and not (elem in FIXED and FIXED.get(elemtype) == FIXED[elem]
                                              and elem in (26, 24, 2205, 2206, 4089)):
            return f"array of {TYPE_NAMES.get(elem, elem)} announces element type {elemtype}"
        pos, count = 12, 1
        for _ in range(ndim):
            length, _lbound = struct.unpack("!ii", data[pos : pos + 8])
            count *= length
            pos += 8
        if ndim == 0:
            count = 0
        for _ in range(count):
            (length,) = struct.unpack("!i", data[pos : pos + 4])
            pos += 4
            if length == -1:
                continue
            why = check_binary(elemtype if ndim else elem, data[pos : pos + length])
            if why:
                return "array element: " + why
            pos += length
        if pos != len(data):
            return f"array of {len(data)} bytes, elements end at {pos}"
    except struct.error:
        return f"truncated array: {data[:24].hex()}"
    return None


def check_text(oid, data):
    """None if `data` is a plausible text-format value of type `oid`, else why."""
    try:
        s = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    if oid == 16 and s not in ("t", "f"):
        return f"bool as {s!r} (PostgreSQL sends t/f)"
    if oid in (20, 21, 23, 26, 28, 29) and not re.fullmatch(r"-?\d+", s):
        return f"{TYPE_NAMES[oid]} as {s!r}"
    if oid in (700, 701) and not re.fullmatch(r"-?(\d+(\.\d*)?(e[+-]?\d+)?|Infinity|NaN)", s):
        return f"{TYPE_NAMES[oid]} as {s!r}"
    return None


# --- type compatibility (warnings) ---------------------------------------------------------

FAMILY = {}
for _names, _family in (
    (("name", "text", "varchar", "bpchar", "char", "unknown", "pg_node_tree", "json"), "string"),
    (("int2", "int4", "int8", "oid", "xid", "cid", "regproc", "regprocedure", "regclass",
      "regtype", "regnamespace", "regrole", "regoper", "regoperator", "regconfig",
      "regdictionary", "regcollation"), "integer"),
    (("float4", "float8", "numeric"), "number"),
    (("bool",), "bool"),
    (("timestamptz", "timestamp"), "timestamp"),
):
    for _n in _names:
        FAMILY[_n] = _family


def family(type_name):
    if type_name in ("int2vector", "oidvector"):
        return "array of integer"
    if type_name.endswith("[]"):
        return "array of " + family(type_name[:-2])
    return FAMILY.get(type_name, type_name)


# --- running ---------------------------------------------------------------------------

class Result:
    def __init__(self, res=None, describe=None, error=None):
        self.error = error
        self.cols = []
        self.rows = 0
        self.problems = []
        if res is None:
            return
        if res.status == pq.ExecStatus.FATAL_ERROR:
            state = res.error_field(pq.DiagnosticField.SQLSTATE) or b""
            message = res.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b""
            self.error = (state.decode(), message.decode(errors="replace"))
            return
        self.cols = [(res.fname(i).decode(), res.ftype(i)) for i in range(res.nfields)]
        self.rows = res.ntuples
        for c in range(res.nfields):
            oid, fmt = res.ftype(c), res.fformat(c)
            for r in range(res.ntuples):
                value = res.get_value(r, c)
                if value is None:
                    continue
                why = check_binary(oid, value) if fmt == 1 else check_text(oid, value)
                if why:
                    self.problems.append(
                        ("binary" if fmt == 1 else "text",
                         f"column {c + 1} {self.cols[c][0]!r} ({TYPE_NAMES.get(oid, oid)}), "
                         f"row {r + 1}: {why}"))
                    break
        if describe is not None and describe.status != pq.ExecStatus.FATAL_ERROR:
            described = [(describe.fname(i).decode(), describe.ftype(i))
                         for i in range(describe.nfields)]
            if described != self.cols:
                self.problems.append(
                    ("columns", f"Describe(statement) gave {described}, the portal {self.cols}"))


def run(pg, mode, sql, number):
    """The results of `sql` (a chunk) sent by `mode`."""
    if mode == "simple":
        pg.send_query(sql.encode())
        out = []
        while (res := pg.get_result()) is not None:
            if res.status in (pq.ExecStatus.EMPTY_QUERY,):
                continue
            out.append(Result(res))
        return out
    out = []
    for k, statement in enumerate(split_sql(sql)):
        if mode == "extended":
            out.append(Result(pg.exec_params(statement.encode(), None, result_format=1)))
            continue
        name = f"corpus_{number}_{k}".encode()
        parsed = pg.prepare(name, statement.encode())
        if parsed.status == pq.ExecStatus.FATAL_ERROR:
            out.append(Result(parsed))
            continue
        describe = pg.describe_prepared(name)
        out.append(Result(pg.exec_prepared(name, None, result_format=1), describe))
        pg.exec_(b"DEALLOCATE " + name)
    return out


def type_name(oid):
    return TYPE_NAMES.get(oid, str(oid))


def compare(expected, got, verbose, note):
    """Problems [(kind, text)] and warnings [(kind, text)] of one chunk's results."""
    problems, warnings = [], []
    many = max(len(expected), len(got)) > 1
    for j in range(max(len(expected), len(got))):
        e = expected[j] if j < len(expected) else None
        g = got[j] if j < len(got) else None
        tag = f"result {j + 1}: " if many else ""
        if g is None:
            # A simple-protocol batch stops at its first error (as PostgreSQL's does).
            if e is not None and e[0] == "ok" and not any(r.error for r in got):
                problems.append(("columns", f"{tag}missing (PostgreSQL returned it)"))
            continue
        if g.error:
            if e is not None and e[0] == "error":
                note(f"both error: PostgreSQL {e[1]}, server {g.error[0]}")
            else:
                problems.append(("error", f"{tag}ERROR {g.error[0]}: {g.error[1]}"))
            continue
        problems.extend((k, tag + t) for k, t in g.problems)
        if e is None:
            continue
        if e[0] == "error":
            note(f"PostgreSQL errored ({e[1]}), the server answered")
            continue
        want = e[1]
        if len(want) != len(g.cols):
            problems.append(("columns", f"{tag}{len(g.cols)} columns, PostgreSQL {len(want)}: "
                             f"{[n for n, _ in g.cols]} vs {[n for n, _ in want]}"))
            continue
        for (wn, wt), (gn, gt) in zip(want, g.cols):
            if wn != gn:
                problems.append(("names", f"{tag}column {wn!r} is named {gn!r}"))
            gtn = type_name(gt)
            if wt != gtn and family(wt) != family(gtn):
                warnings.append(("types", f"{tag}column {wn!r}: PostgreSQL {wt}, server {gtn}"))
    return problems, warnings


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5432)
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--dbname", default="home")
    ap.add_argument("--password")
    ap.add_argument("--modes", default="simple,extended,prepared")
    ap.add_argument("--strict", action="store_true",
                    help="also fail on differently named/typed columns and on OPEN_BUGS")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every statement")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    dsn = f"host={args.host} port={args.port} user={args.user} dbname={args.dbname}"
    if args.password:
        dsn += f" password={args.password}"

    report = {}  # (path, sid) -> {"sql": ..., "lines": [(status, mode, kind, text)]}
    seen_open, runs = set(), 0
    for path in args.files:
        items = chunks(path)
        for mode in args.modes.split(","):
            pg = pq.PGconn.connect(dsn.encode())
            if pg.status != pq.ConnStatus.OK:
                sys.exit(f"cannot connect: {pg.error_message.decode()}")
            for number, (meta, sql) in enumerate(items):
                runs += 1
                sid = meta["id"]
                entry = report.setdefault((path, sid), {"sql": sql, "lines": []})

                def note(text, sid=sid, mode=mode):
                    if args.verbose:
                        print(f"  {sid} [{mode}] {text}")

                try:
                    got = run(pg, mode, sql, number)
                except Exception as e:  # the connection broke: record it, go on with a new one
                    got = [Result(error=("08006", f"connection lost: {e}"))]
                    pg.finish()
                    pg = pq.PGconn.connect(dsn.encode())
                problems, warnings = compare(expectation(meta, mode), got, args.verbose, note)
                # One line per kind: several columns with the same problem are listed together.
                by_kind = {}
                for kind, text in problems:
                    by_kind.setdefault(kind, []).append(text)
                for kind, texts in by_kind.items():
                    text = "; ".join(texts)
                    key = next((k for k in ((sid, f"{kind}:{mode}"), (sid, kind)) if k in KNOWN), None)
                    if key:
                        note(f"known {kind}: {KNOWN[key]}")
                    elif (sid, kind) in OPEN_BUGS:
                        seen_open.add((sid, kind))
                        entry["lines"].append(("XFAIL", mode, kind, text))
                    else:
                        entry["lines"].append(("FAIL", mode, kind, text))
                for kind, text in warnings:
                    entry["lines"].append(("WARN", mode, kind, text))
                if not problems and not warnings:
                    note("ok")
            pg.finish()

    ids = {sid for _, sid in report}
    xpass = [(k, r) for k, r in OPEN_BUGS.items() if k[0] in ids and k not in seen_open]
    counts = {"FAIL": 0, "XFAIL": 0, "WARN": 0}
    for (path, sid), entry in report.items():
        lines = entry["lines"]
        if not lines:
            continue
        short = " ".join(entry["sql"].split())
        print(f"{sid} ({os.path.basename(path)}): {short[:160]}{'...' if len(short) > 160 else ''}")
        for status, mode, kind, text in lines:
            counts[status] += 1
            print(f"  {status:5} [{mode}] {kind}: {text[:600]}")
        for kind in sorted({k for st, _, k, _ in lines if st == "XFAIL"}):
            print(f"        open bug: {OPEN_BUGS[(sid, kind)]}")
    for (sid, kind), reason in xpass:
        print(f"XPASS {sid} {kind}: no longer happens; remove it from OPEN_BUGS ({reason})")
    print(f"{runs} statement runs ({args.modes}): {counts['FAIL']} failures, {counts['XFAIL']} "
          f"expected failures (OPEN_BUGS), {len(xpass)} open bugs fixed, {counts['WARN']} warnings")
    failed = counts["FAIL"] or (args.strict and (counts["XFAIL"] or counts["WARN"]))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
