-- Client: Grafana PostgreSQL data source (grafana-postgresql-datasource) — NOT captured from a running
--         Grafana. RECONSTRUCTED from Grafana source in the public grafana/grafana repository:
--           public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts
--             newest stored revision (commit 12f912ab8d010f4d95a4043a0efaa20fc4ca0100: showSchemas,
--             showTables(schema), CASE-based showTables(), parse_ident getSchema); the CASE-based
--             showTables()/getSchema() text is identical in revision eb607c510fe9fe93ca209a4ca48935321fcd363f;
--             the 'OLDER' entries are from an earlier revision (plain showTables/getSchema),
--           .../sqlUtil.ts toRawSql() + @grafana/sql createSelectClause() (builder SQL, note trailing space),
--           pkg/tsdb/grafana-postgresql-datasource/macros.go (macro expansion; RFC3339Nano UTC literals).
--         '-- ping' is pgx v5 PgConn.Ping(), used by the backend health check ('Save & test').
--         Exact whitespace is as in the TS template literals with 'energy'/'public' substituted.
-- Verification: every statement except '-- ping' was executed with psql 15 against PostgreSQL 15.18
--   (output: grafana_postgres_datasource.out). '-- ping' was sent by psycopg as a simple Query
--   and real PG answers EmptyQueryResponse + ReadyForQuery.
-- Protocol: not observed. Newer Grafana (pgx v5 backend, pkg/tsdb/.../pgx) would normally use the extended protocol
--   (pgx default QueryExecModeCacheStatement: Parse named statement + Describe, then Bind/Execute);
--   older lib/pq backends sent argument-less queries via the simple protocol. Treat as 'either'.
-- Statements are separated by a line containing only ';;'. '-- api:' lines say where each comes from.
-- Quirks worth noting: quote_ident(), parse_ident(), string_to_array(current_setting('search_path'),','),
--   generate_series(array_lower(..),array_upper(..)), subscripting s[i], CASE WHEN <IN-subquery>,
--   the bare SQL-standard function 'user', '"$user"' literal, information_schema.tables/columns/schemata.
--   quote_ident('time') returns '"time"' (TIME is a keyword), which Grafana then shows as a column name.

-- api: connection check: pgx v5 Conn.Ping() (newer Grafana pgx backend, 'Save & test' health check)
-- ping
;;
-- api: postgresMetaQuery.ts getVersion() (config page auto-detect)
SELECT current_setting('server_version_num')::int/100 as version
;;
-- api: postgresMetaQuery.ts getTimescaleDBVersion()
SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'
;;
-- api: postgresMetaQuery.ts showSchemas() [newer versions]
SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name
;;
-- api: postgresMetaQuery.ts showTables('public') [newer versions, schema chosen]
SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = 'public'
      ORDER BY 1
;;
-- api: postgresMetaQuery.ts showTables() [no schema chosen]
SELECT
    CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          ) THEN 0 ELSE 1 END, 1
;;
-- api: postgresMetaQuery.ts getSchema('energy') (column list for the builder)
SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('energy'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('energy'))[1]
          AND quote_ident(table_name) = (parse_ident('energy'))[2]
        ELSE quote_ident(table_name) = 'energy'
          AND 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
      END
;;
-- api: OLDER postgresMetaQuery.ts showTables() (earlier revision, before schema-aware listing)
select quote_ident(table_name) as "table" from information_schema.tables
    where quote_ident(table_schema) not in ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
      and 
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )
;;
-- api: OLDER postgresMetaQuery.ts getSchema('energy')
select quote_ident(column_name) as "column", data_type as "type"
    from information_schema.columns
    where quote_ident(table_name) = 'energy'
;;
-- api: query builder toRawSql(): columns household, power_w; default limit 50 (note trailing space)
SELECT household, power_w FROM energy LIMIT 50 
;;
-- api: query builder toRawSql(): AVG(power_w) grouped by household, ordered
SELECT AVG(power_w), household FROM energy GROUP BY household ORDER BY household ASC LIMIT 50 
;;
-- api: query builder toRawSql(): with a filter (react-awesome-query-builder SQL)
SELECT household, power_w FROM energy WHERE household = 'h1' LIMIT 50 
;;
-- api: code-mode time series query: SELECT $__time(time), power_w FROM energy WHERE $__timeFilter(time) ORDER BY 1  (macros expanded by macros.go, range 2024-01-01..2024-01-05 UTC)
SELECT time AS "time", power_w FROM energy WHERE time BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-05T00:00:00Z' ORDER BY 1
;;
-- api: code-mode: $__timeGroupAlias(time, 1h), avg(power_w) ... GROUP BY 1 ORDER BY 1  (expanded)
SELECT floor(extract(epoch from time)/3600)*3600 AS "time", avg(power_w) AS "power_w" FROM energy WHERE time BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-05T00:00:00Z' GROUP BY 1 ORDER BY 1
;;
-- api: code-mode: $__timeEpoch(time) and $__unixEpochFilter on an epoch expression (expanded)
SELECT extract(epoch from time) as "time", household, import_kwh FROM energy WHERE extract(epoch from time) >= 1704067200 AND extract(epoch from time) <= 1704412800 ORDER BY 1
;;
-- api: code-mode: $__timeFrom() / $__timeTo() with fractional seconds (RFC3339Nano)
SELECT count(*) FROM energy WHERE time >= '2024-01-01T00:00:00.5Z' AND time < '2024-01-05T00:00:00Z'
;;
