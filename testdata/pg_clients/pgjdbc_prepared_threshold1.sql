-- Client: PostgreSQL JDBC Driver 42.5.5, OpenJDK 17.0.15, prepareThreshold=1
-- Program: /tmp/pgcapture/java/T.java prepared PORT '&prepareThreshold=1'
-- NOTE: every statement (even BEGIN/COMMIT and the pg_settings query) becomes a named
--       server-side statement S_n on first use and is re-Bound afterwards.
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
-- Wire-protocol trace of the same run: pgjdbc_prepared_threshold1.wire.txt

-- api: DriverManager.getConnection("jdbc:postgresql://127.0.0.1:54349/home?user=postgres&prepareThreshold=1")
-- protocol: extended; statement: unnamed
SET extra_float_digits = 3
;;
-- protocol: extended; statement: unnamed
SET application_name = 'PostgreSQL JDBC Driver'
;;
-- api: stmt.executeQuery("SELECT name, setting FROM pg_settings WHERE source='client'")
-- protocol: extended; statement: S_1
SELECT name, setting FROM pg_settings WHERE source='client'
;;
-- api: PreparedStatement("SELECT ... WHERE time >= ? AND household = ? AND power_w > ?") executed 6x (setTimestamp, setString, setDouble)
-- protocol: extended; statement: S_2
-- params: $1 = '2024-01-01 00:00:00+00', $2 = 'h1', $3 = '1'
SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= $1 AND household = $2 AND power_w > $3 ORDER BY time
;;
-- protocol: extended; statement: S_2
-- params: $1 = '2024-01-01 00:00:00+00', $2 = 'h1', $3 = '1'
SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= $1 AND household = $2 AND power_w > $3 ORDER BY time
;;
-- protocol: extended; statement: S_2
-- params: $1 = '2024-01-01 00:00:00+00', $2 = 'h1', $3 = '1'
SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= $1 AND household = $2 AND power_w > $3 ORDER BY time
;;
-- protocol: extended; statement: S_2
-- params: $1 = '2024-01-01 00:00:00+00', $2 = 'h1', $3 = '1'
SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= $1 AND household = $2 AND power_w > $3 ORDER BY time
;;
-- protocol: extended; statement: S_2
-- params: $1 = '2024-01-01 00:00:00+00', $2 = 'h1', $3 = '1'
SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= $1 AND household = $2 AND power_w > $3 ORDER BY time
;;
-- protocol: extended; statement: S_2
-- params: $1 = '2024-01-01 00:00:00+00', $2 = 'h1', $3 = '1'
SELECT household, meter, import_kwh, power_w, time FROM energy WHERE time >= $1 AND household = $2 AND power_w > $3 ORDER BY time
;;
-- api: PreparedStatement INSERT (setString, setString, setDouble, setDouble, setTimestamp) executeUpdate, then DELETE
-- protocol: extended; statement: S_3
-- params: $1 = 'hx', $2 = 'mx', $3 = '0.5', $4 = '100', $5 = '2024-02-01 10:00:00.5+00'
INSERT INTO energy (household, meter, import_kwh, power_w, time) VALUES ($1, $2, $3, $4, $5)
;;
-- protocol: extended; statement: S_4
-- params: $1 = 'hx'
DELETE FROM energy WHERE household = $1
;;
-- api: setAutoCommit(false); Statement.setFetchSize(2); executeQuery("SELECT * FROM energy ORDER BY time"); commit()
-- protocol: extended; statement: S_5
BEGIN
;;
-- protocol: extended; statement: S_6; portal: C_7
SELECT * FROM energy ORDER BY time
;;
-- protocol: extended; FETCH (another Execute on the still-open portal) statement: S_6; portal: C_7
SELECT * FROM energy ORDER BY time
;;
-- protocol: extended; FETCH (another Execute on the still-open portal) statement: S_6; portal: C_7
SELECT * FROM energy ORDER BY time
;;
-- protocol: extended; statement: S_8
COMMIT
;;
-- api: PreparedStatement with setFetchSize(2) and a parameter (autocommit off); commit()
-- protocol: extended; statement: S_5
BEGIN
;;
-- protocol: extended; statement: S_9; portal: C_10
-- params: $1 = '0'
SELECT * FROM energy WHERE import_kwh > $1 ORDER BY time
;;
-- protocol: extended; FETCH (another Execute on the still-open portal) statement: S_9; portal: C_10
-- params: $1 = '0'
SELECT * FROM energy WHERE import_kwh > $1 ORDER BY time
;;
-- protocol: extended; FETCH (another Execute on the still-open portal) statement: S_9; portal: C_10
-- params: $1 = '0'
SELECT * FROM energy WHERE import_kwh > $1 ORDER BY time
;;
-- protocol: extended; statement: S_8
COMMIT
;;
