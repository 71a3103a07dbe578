-- Client: node-postgres (pg) 8.23.1, Node.js v20.20.2
-- Script: /tmp/pgcapture/node/t.js PORT
-- NOTE: no SSLRequest; startup has client_encoding=UTF8. Queries without values use the simple
--       protocol (multi-statement allowed); with values: Parse with NO param types (all 0),
--       all params text; JS Date is sent as '2024-01-02T00:00:00.000+00:00'.
--       {name: ...} queries Parse a named statement once and re-Bind it.
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
-- Wire-protocol trace of the same run: node_pg_basic.wire.txt

-- api: client.query('SELECT * FROM energy ORDER BY time')  (no params)
-- protocol: simple
SELECT * FROM energy ORDER BY time
;;
-- api: client.query('SELECT ... WHERE household = $1 AND power_w > $2', ['h1', 1.0])
-- protocol: extended; statement: unnamed
-- params: $1 = 'h1', $2 = '1'
SELECT * FROM energy WHERE household = $1 AND power_w > $2
;;
-- api: client.query('SELECT ... WHERE time >= $1', [new Date('2024-01-02T00:00:00Z')])
-- protocol: extended; statement: unnamed
-- params: $1 = '2024-01-02 00:00:00+00'
SELECT household, time FROM energy WHERE time >= $1 ORDER BY time
;;
-- api: client.query({name: 'by_household', text: 'SELECT count(*) FROM energy WHERE household = $1', values: ['h2']}) x2
-- protocol: extended; statement: by_household
-- params: $1 = 'h2'
SELECT count(*) FROM energy WHERE household = $1
;;
-- protocol: extended; statement: by_household
-- params: $1 = 'h2'
SELECT count(*) FROM energy WHERE household = $1
;;
-- api: client.query('SELECT 1; SELECT 2')  (multi-statement, simple protocol)
-- protocol: simple
SELECT 1 AS a; SELECT 2 AS b
;;
-- api: client.query(...) error: SELECT * FROM nope
-- protocol: simple
SELECT * FROM nope
;;
