-- Client: psycopg2-binary 2.9.13 (libpq 17.11), Python 3.11.7, no SQLAlchemy
-- Script: /tmp/pgcapture/sa_capture.py psycopg2_basic
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
-- Wire-protocol trace of the same run: psycopg2_basic.wire.txt

-- api: cur.execute('SELECT * FROM energy ORDER BY time')  (no params)
-- protocol: simple
BEGIN
;;
-- protocol: simple
SELECT * FROM energy ORDER BY time
;;
-- api: cur.execute('... WHERE household = %s AND power_w > %s', ('h1', 1.0))
-- protocol: simple
SELECT * FROM energy WHERE household = 'h1' AND power_w > 1.0
;;
-- api: conn.commit()
-- protocol: simple
COMMIT
;;
