-- Client: PostgreSQL JDBC Driver 42.5.5, OpenJDK 17.0.15, default prepareThreshold=5
-- Program: /tmp/pgcapture/java/T.java prepared  (URL jdbc:postgresql://127.0.0.1:PORT/home?user=postgres)
-- NOTE: executions 1-4 use the unnamed statement; the 5th Parses named 'S_1' (+Describe S),
--       the 6th Binds S_1 requesting BINARY results for float8/timestamptz columns.
--       setTimestamp -> param type 0 (unspecified) text '2024-01-01 00:00:00+00';
--       setString -> 1043 (varchar) text; setDouble -> 701 (float8) BINARY.
--       setFetchSize(2) with autocommit off -> named portal C_n, Execute maxrows=2, PortalSuspended.
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
-- Wire-protocol trace of the same run: pgjdbc_prepared.wire.txt

-- api: DriverManager.getConnection("jdbc:postgresql://127.0.0.1:54348/home?user=postgres")
-- protocol: extended; statement: unnamed
SET extra_float_digits = 3
;;
-- protocol: extended; statement: unnamed
SET application_name = 'PostgreSQL JDBC Driver'
;;
-- api: stmt.executeQuery("SELECT name, setting FROM pg_settings WHERE source='client'")
-- protocol: extended; statement: unnamed
SELECT name, setting FROM pg_settings WHERE source='client'
;;
-- api: PreparedStatement("SELECT ... WHERE time >= ? AND household = ? AND power_w > ?") executed 6x (setTimestamp, setString, setDouble)
-- protocol: extended; statement: unnamed
-- params: $1 = '2024-01-01 00:00:00+00', $2 = 'h1', $3 = '1'
SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= $1 AND household = $2 AND power_w > $3 ORDER BY time
;;
-- protocol: extended; statement: unnamed
-- params: $1 = '2024-01-01 00:00:00+00', $2 = 'h1', $3 = '1'
SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= $1 AND household = $2 AND power_w > $3 ORDER BY time
;;
-- protocol: extended; statement: unnamed
-- params: $1 = '2024-01-01 00:00:00+00', $2 = 'h1', $3 = '1'
SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= $1 AND household = $2 AND power_w > $3 ORDER BY time
;;
-- protocol: extended; statement: unnamed
-- params: $1 = '2024-01-01 00:00:00+00', $2 = 'h1', $3 = '1'
SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= $1 AND household = $2 AND power_w > $3 ORDER BY time
;;
-- protocol: extended; statement: S_1
-- params: $1 = '2024-01-01 00:00:00+00', $2 = 'h1', $3 = '1'
SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= $1 AND household = $2 AND power_w > $3 ORDER BY time
;;
-- protocol: extended; statement: S_1
-- params: $1 = '2024-01-01 00:00:00+00', $2 = 'h1', $3 = '1'
SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= $1 AND household = $2 AND power_w > $3 ORDER BY time
;;
-- api: PreparedStatement INSERT (setString, setString, setDouble, setDouble, setTimestamp) executeUpdate, then DELETE
-- protocol: extended; statement: unnamed
-- params: $1 = 'hx', $2 = 'mx', $3 = '0.5', $4 = '100', $5 = '2024-02-01 10:00:00.5+00'
INSERT INTO energy (household, meter, import_kwh, power_w, time) VALUES ($1, $2, $3, $4, $5)
;;
-- protocol: extended; statement: unnamed
-- params: $1 = 'hx'
DELETE FROM energy WHERE household = $1
;;
-- api: setAutoCommit(false); Statement.setFetchSize(2); executeQuery("SELECT * FROM energy ORDER BY time"); commit()
-- protocol: extended; statement: unnamed
BEGIN
;;
-- protocol: extended; statement: unnamed; portal: C_2
SELECT * FROM energy ORDER BY time
;;
-- protocol: extended; FETCH (another Execute on the still-open portal) statement: unnamed; portal: C_2
SELECT * FROM energy ORDER BY time
;;
-- protocol: extended; FETCH (another Execute on the still-open portal) statement: unnamed; portal: C_2
SELECT * FROM energy ORDER BY time
;;
-- protocol: extended; statement: S_3
COMMIT
;;
-- api: PreparedStatement with setFetchSize(2) and a parameter (autocommit off); commit()
-- protocol: extended; statement: unnamed
BEGIN
;;
-- protocol: extended; statement: unnamed; portal: C_4
-- params: $1 = '0'
SELECT * FROM energy WHERE import_kwh > $1 ORDER BY time
;;
-- protocol: extended; FETCH (another Execute on the still-open portal) statement: unnamed; portal: C_4
-- params: $1 = '0'
SELECT * FROM energy WHERE import_kwh > $1 ORDER BY time
;;
-- protocol: extended; FETCH (another Execute on the still-open portal) statement: unnamed; portal: C_4
-- params: $1 = '0'
SELECT * FROM energy WHERE import_kwh > $1 ORDER BY time
;;
-- protocol: extended; statement: S_3
COMMIT
;;
