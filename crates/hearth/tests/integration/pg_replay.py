#!/usr/bin/env python3
"""Replays a PostgreSQL client's recorded wire messages against a server and compares.

The traces in testdata/pg_clients/*.wire.txt record, message by message, what a real client
(psycopg, psycopg2, SQLAlchemy, pandas, pgjdbc, node-postgres) sent to PostgreSQL 15 and what
PostgreSQL answered. This script sends the same frontend messages (StartupMessage, Query,
Parse with the client's parameter types, Bind with its parameter formats and values, Describe,
Execute with its row limit, Close, Flush, Sync) to the server at HOST:PORT, reads its answers,
and checks, exchange by exchange (up to each ReadyForQuery), that:

  * the server answers an error exactly where PostgreSQL did, with the same SQLSTATE, and
  * each result has as many columns as PostgreSQL's did.

The table the trace used (`energy` in database `home`) must exist. Exit status 0 when
everything matches, 1 with a report of every difference otherwise.

    python3 pg_replay.py --host 127.0.0.1 --port 5432 TRACE.wire.txt [...]
"""

import argparse
import ast
import re
import socket
import struct
import sys


def parse_fields(text):
    """`name='x' paramtypes=[1, 2] query='...'` -> dict (values by ast.literal_eval)."""
    out = {}
    i = 0
    while i < len(text):
        m = re.match(r"\s*(\w+)=", text[i:])
        if not m:
            break
        key = m.group(1)
        i += m.end()
        # Find the end of the Python literal: try growing prefixes (values are short lists or
        # repr strings; repr strings can contain anything, so scan them properly).
        j = literal_end(text, i)
        out[key] = text[i:j]
        i = j
    return out


def literal_end(text, i):
    """Index just past the Python literal starting at text[i]."""
    c = text[i]
    if c in "'\"":
        j = i + 1
        while j < len(text):
            if text[j] == "\\":
                j += 2
                continue
            if text[j] == c:
                return j + 1
            j += 1
        raise ValueError("unterminated string literal")
    if c == "[":
        depth = 0
        j = i
        while j < len(text):
            ch = text[j]
            if ch in "'\"":
                j = literal_end(text, j)
                continue
            if ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        raise ValueError("unterminated list")
    m = re.match(r"[^\s]+", text[i:])
    return i + m.end()


def bind_values(text):
    """The `params=[...]` of a Bind: repr strings, 0x.. hex (bytes), NULL."""
    inner = text.strip()[1:-1].strip()
    values = []
    i = 0
    while i < len(inner):
        while i < len(inner) and inner[i] in ", ":
            i += 1
        if i >= len(inner):
            break
        if inner.startswith("NULL", i):
            values.append(None)
            i += 4
        elif inner.startswith("0x", i):
            m = re.match(r"0x([0-9a-f]*)", inner[i:])
            values.append(bytes.fromhex(m.group(1)))
            i += m.end()
        else:
            j = literal_end(inner, i)
            values.append(ast.literal_eval(inner[i:j]).encode())
            i = j
    return values


def cstr(s):
    return s.encode() + b"\0"


def message(kind, body):
    return kind + struct.pack("!i", len(body) + 4) + body


def encode(line):
    """The bytes of a recorded frontend message, or None to skip it."""
    kind, _, rest = line[2:].partition(" ")
    if kind == "Query":
        return message(b"Q", cstr(ast.literal_eval(rest)))
    if kind == "Parse":
        f = parse_fields(rest)
        types = ast.literal_eval(f["paramtypes"])
        body = cstr(ast.literal_eval(f["name"])) + cstr(ast.literal_eval(f["query"]))
        body += struct.pack("!h", len(types)) + b"".join(struct.pack("!I", t) for t in types)
        return message(b"P", body)
    if kind == "Bind":
        f = parse_fields(rest)
        formats = ast.literal_eval(f["paramformats"])
        values = bind_values(f["params"])
        results = ast.literal_eval(f["resultformats"])
        body = cstr(ast.literal_eval(f["portal"])) + cstr(ast.literal_eval(f["stmt"]))
        body += struct.pack("!h", len(formats)) + b"".join(struct.pack("!h", x) for x in formats)
        body += struct.pack("!h", len(values))
        for v in values:
            body += struct.pack("!i", -1) if v is None else struct.pack("!i", len(v)) + v
        body += struct.pack("!h", len(results)) + b"".join(struct.pack("!h", x) for x in results)
        return message(b"B", body)
    if kind == "Describe":
        what, _, name = rest.partition(" ")
        return message(b"D", what.encode() + cstr(ast.literal_eval(name)))
    if kind == "Close":
        what, _, name = rest.partition(" ")
        return message(b"C", what.encode() + cstr(ast.literal_eval(name)))
    if kind == "Execute":
        f = parse_fields(rest)
        return message(b"E", cstr(ast.literal_eval(f["portal"])) + struct.pack("!i", int(f["maxrows"])))
    if kind == "Sync":
        return message(b"S", b"")
    if kind == "Flush":
        return message(b"H", b"")
    return None


class Connection:
    def __init__(self, host, port, params):
        self.sock = socket.create_connection((host, port), timeout=60)
        body = struct.pack("!i", 196608)
        for k, v in params.items():
            body += cstr(k) + cstr(v)
        body += b"\0"
        self.sock.sendall(struct.pack("!i", len(body) + 4) + body)
        self.buffer = b""
        answers = self.until_ready()
        errors = [a for a in answers if a[0] == "E"]
        if errors:
            raise RuntimeError(f"startup failed: {errors}")

    def read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("server closed the connection")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def next(self):
        kind = self.read(1).decode()
        (length,) = struct.unpack("!i", self.read(4))
        return kind, self.read(length - 4)

    def until_ready(self):
        """Backend messages up to and including ReadyForQuery, as (kind, summary)."""
        out = []
        while True:
            kind, body = self.next()
            if kind == "E":
                fields = dict((chr(f[0]), f[1:].decode(errors="replace")) for f in body.split(b"\0") if f)
                out.append(("E", fields.get("C", ""), fields.get("M", "")))
            elif kind == "T":
                (n,) = struct.unpack("!h", body[:2])
                out.append(("T", n))
            elif kind == "Z":
                out.append(("Z", body.decode()))
                return out
            else:
                out.append((kind,))


def expected_exchanges(lines):
    """Per exchange (frontend messages up to a Sync or Query), what PostgreSQL answered."""
    exchanges = []
    current = []
    answers = []
    for line in lines:
        if line.startswith("F "):
            kind = line[2:].split(" ", 1)[0]
            if kind in ("StartupMessage", "SSLRequest", "Terminate") or kind.startswith("Password"):
                continue
            current.append(line)
        elif line.startswith("B "):
            kind = line[2:].split(" ", 1)[0]
            if kind == "ErrorResponse":
                m = re.search(r"C='([0-9A-Z]{5})'", line)
                answers.append(("E", m.group(1) if m else ""))
            elif kind == "RowDescription":
                answers.append(("T", line.count("(tbl=")))
            elif kind == "ReadyForQuery" and current:
                exchanges.append((current, answers))
                current, answers = [], []
    return exchanges


# Where Hearth answers differently from PostgreSQL, knowingly: (the start of the SQL, why).
KNOWN_DIFFERENCES = [
    ("SELECT '2024-01-01 00:00:00'::timestamp AS ts_no_tz",
     "DataFusion's interval syntax has no 'HH:MM:SS' part ('1 day 02:03:04.5')"),
    ("SELECT 12345678901234567890::numeric(20,0)",
     "Arrow's decimals have no NaN ('NaN'::numeric)"),
    ("SELECT 1/0",
     "the division is evaluated as rows are produced, so the error follows the row description"),
]


def known(sql):
    """The reason Hearth is known to answer `sql` differently, if it is."""
    text = sql.split(" ", 2)[-1] if sql.startswith("F ") else sql
    try:
        text = ast.literal_eval(text.split("query=", 1)[-1]) if "query=" in text else ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    for prefix, why in KNOWN_DIFFERENCES:
        if str(text).startswith(prefix):
            return why
    return None


def replay(host, port, path):
    lines = open(path, encoding="utf-8").read().splitlines()
    startup = next(l for l in lines if l.startswith("F StartupMessage"))
    params = {k: ast.literal_eval(v) for k, v in re.findall(r"(\w+)=('(?:[^'\\]|\\.)*')", startup)}
    params["user"] = "replay"
    conn = Connection(host, port, params)
    problems = []
    for messages, pg in expected_exchanges(lines):
        wire = b"".join(filter(None, (encode(m) for m in messages)))
        conn.sock.sendall(wire)
        ours = conn.until_ready()
        sql = next((m for m in messages if m.startswith(("F Query", "F Parse"))), messages[0])
        if known(sql):
            print(f"{path}: known difference ({known(sql)}): {sql[:120]}", file=sys.stderr)
            continue
        pg_errors = [a for a in pg if a[0] == "E"]
        our_errors = [a for a in ours if a[0] == "E"]
        if [e[1] for e in pg_errors] != [e[1] for e in our_errors]:
            problems.append(f"{path}: PostgreSQL {pg_errors if pg_errors else 'succeeded'}, "
                            f"Hearth {our_errors if our_errors else 'succeeded'}\n    {sql[:400]}")
            continue
        pg_cols = [a[1] for a in pg if a[0] == "T"]
        our_cols = [a[1] for a in ours if a[0] == "T"]
        if pg_cols != our_cols:
            problems.append(f"{path}: result columns PostgreSQL {pg_cols}, Hearth {our_cols}\n    {sql[:400]}")
    conn.sock.close()
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("traces", nargs="+")
    args = parser.parse_args()
    problems = []
    for t in args.traces:
        problems += replay(args.host, args.port, t)
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
