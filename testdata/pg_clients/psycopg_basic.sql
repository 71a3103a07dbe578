-- Client: psycopg 3.3.9 (psycopg-binary, libpq 18.6), Python 3.11.7, no SQLAlchemy
-- Script: /tmp/pgcapture/sa_capture.py psycopg3_basic
-- NOTE: without params psycopg 3 uses the simple protocol; with params it uses the unnamed
--       extended statement (str -> type 0/unknown text, float -> float8 BINARY); prepare=True
--       uses a named statement '_pg3_0' (Parse+Sync once, then Bind/Describe/Execute/Sync).
-- Server: PostgreSQL 15.18 (Debian 15.18-0+deb12u1), database "home", user postgres (superuser, trust auth), TimeZone Etc/UTC
-- Captured from the server log (log_statement = 'all'; extended-protocol statements appear as
-- 'execute <name>' with a 'parameters:' DETAIL line, rendered here as '-- params:').
-- CAUTION: '-- params:' values are the SERVER's re-rendering of the bound values after type
-- resolution (e.g. a binary float8 1.0 shows as '1', node's '2024-01-02T00:00:00.000+00:00'
-- shows as '2024-01-02 00:00:00+00'). The raw bytes/type OIDs/formats are in the .wire.txt.
-- Statements are in the order sent; each terminated by a line containing only ';;'.
-- '-- api:' marks the client call that produced the statements that follow.
-- '-- protocol: simple' = Query message; 'extended' = Parse/Bind/Execute (see the matching
-- .wire.txt for message-level detail: parameter type OIDs, formats, Describe, Sync, etc.).
-- Wire-protocol trace of the same run: psycopg_basic.wire.txt

-- api: cur.execute('SELECT * FROM energy ORDER BY time')  (no params)
-- protocol: simple
BEGIN
;;
-- protocol: simple
SELECT * FROM energy ORDER BY time
;;
-- api: cur.execute('... WHERE household = %s AND power_w > %s', ('h1', 1.0))
-- protocol: extended; statement: unnamed
-- params: $1 = 'h1', $2 = '1'
SELECT * FROM energy WHERE household = $1 AND power_w > $2
;;
-- api: cur.execute(..., prepare=True) x2
-- protocol: extended; statement: _pg3_0
-- params: $1 = 'h2'
SELECT count(*) FROM energy WHERE household = $1
;;
-- protocol: extended; statement: _pg3_0
-- params: $1 = 'h2'
SELECT count(*) FROM energy WHERE household = $1
;;
-- api: conn.commit()
-- protocol: simple
COMMIT
;;
