-- Client: Metabase v0.55.1 (through pgjdbc) — NOT captured here. Statements are the METABASE_QUERIES
--   of datafusion-postgres 0.19.0 tests/metabase.rs (cargo registry), in order, verbatim: connection
--   setup, JDBC getSchemas(), the table-privileges CTE and the table list of a database sync.
-- Protocol: not observed. Metabase goes through pgjdbc (extended protocol, unnamed statements).
-- Verified: every statement was run on PostgreSQL 15.18 (Debian 15.18-0+deb12u1)
--   (database "home" with the energy table of README.md, superuser, TimeZone Etc/UTC) as a simple
--   Query (text results) and as Parse/Bind/Execute with binary results (psycopg 3 / libpq).
--   '-- pg15:' is what PostgreSQL answered to the simple Query: columns as 'name type' and the
--   row count, or 'ERROR <SQLSTATE> <message>'; '-- pg15 binary:' is added where the binary run
--   answered differently. Row counts depend on the catalog and are not compared.
-- Checker: crates/hearth/tests/integration/pg_corpus.py (runs both protocols against a server).
-- Regenerate: testdata/pg_clients/capture/corpus_fixtures.py.
-- Statements are separated by a line containing only ';;'; '-- id:' names each one.

-- id: metabase-0
-- api: datafusion-postgres 0.19.0 tests/metabase.rs METABASE_QUERIES[0]
-- pg15: 0 columns; SET
SET extra_float_digits = 2
;;
-- id: metabase-1
-- api: datafusion-postgres 0.19.0 tests/metabase.rs METABASE_QUERIES[1]
-- pg15: 0 columns; SET
SET application_name = 'Metabase v0.55.1 [f8f63fdf-d8f8-4573-86ea-4fe4a9548041]'
;;
-- id: metabase-2
-- api: datafusion-postgres 0.19.0 tests/metabase.rs METABASE_QUERIES[2]
-- pg15: 1 column: transaction_isolation text; 1 row
SHOW TRANSACTION ISOLATION LEVEL
;;
-- id: metabase-3
-- api: datafusion-postgres 0.19.0 tests/metabase.rs METABASE_QUERIES[3]
-- pg15: 0 columns; SET
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED
;;
-- id: metabase-4
-- api: datafusion-postgres 0.19.0 tests/metabase.rs METABASE_QUERIES[4]
-- pg15: 2 columns: TABLE_SCHEM name, TABLE_CATALOG name; 3 rows
SELECT nspname AS "TABLE_SCHEM", current_database() AS "TABLE_CATALOG" FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY "TABLE_SCHEM"
;;
-- id: metabase-5
-- api: datafusion-postgres 0.19.0 tests/metabase.rs METABASE_QUERIES[5]
-- pg15: 7 columns: role text, schema name, table name, update bool, select bool, insert bool, delete bool; 1 row
with table_privileges as (
         select
           NULL as role,
           t.schemaname as schema,
           t.objectname as table,
           pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'update') as update,
           pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'select') as select,
           pg_catalog.has_any_column_privilege(current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'insert') as insert,
           pg_catalog.has_table_privilege(     current_user, '"' || replace(t.schemaname, '"', '""') || '"' || '.' || '"' || replace(t.objectname, '"', '""') || '"',  'delete') as delete
         from (
           select schemaname, tablename as objectname from pg_catalog.pg_tables
           union
           select schemaname, viewname as objectname from pg_catalog.pg_views
           union
           select schemaname, matviewname as objectname from pg_catalog.pg_matviews
         ) t
         where t.schemaname !~ '^pg_'
           and t.schemaname <> 'information_schema'
           and pg_catalog.has_schema_privilege(current_user, t.schemaname, 'usage')
        )
        select t.*
        from table_privileges t
;;
-- id: metabase-6
-- api: datafusion-postgres 0.19.0 tests/metabase.rs METABASE_QUERIES[6]
-- pg15: 5 columns: schema name, name name, type text, description text, estimated_row_count int8; 1 row
SELECT "n"."nspname" AS "schema", "c"."relname" AS "name", CASE "c"."relkind" WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS "type", "d"."description" AS "description", "stat"."n_live_tup" AS "estimated_row_count" FROM "pg_catalog"."pg_class" AS "c" INNER JOIN "pg_catalog"."pg_namespace" AS "n" ON "c"."relnamespace" = "n"."oid" LEFT JOIN "pg_catalog"."pg_description" AS "d" ON ("c"."oid" = "d"."objoid") AND ("d"."objsubid" = '0') AND ("d"."classoid" = 'pg_class'::regclass) LEFT JOIN "pg_stat_user_tables" AS "stat" ON ("n"."nspname" = "stat"."schemaname") AND ("c"."relname" = "stat"."relname") WHERE ("c"."relnamespace" = "n"."oid") AND ("n"."nspname" !~ '^pg_') AND ("n"."nspname" <> 'information_schema') AND c.relkind in ('r', 'p', 'v', 'f', 'm') AND ("n"."nspname" IN ('public')) ORDER BY "type" ASC, "schema" ASC, "name" ASC
;;
-- id: metabase-7
-- api: datafusion-postgres 0.19.0 tests/metabase.rs METABASE_QUERIES[7]
-- pg15: 0 columns; SET
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED
;;
-- id: metabase-8
-- api: datafusion-postgres 0.19.0 tests/metabase.rs METABASE_QUERIES[8]
-- pg15: 0 columns; SET
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ UNCOMMITTED
;;
-- id: metabase-9
-- api: datafusion-postgres 0.19.0 tests/metabase.rs METABASE_QUERIES[9]
-- pg15: 1 column: TimeZone text; 1 row
show timezone
;;
