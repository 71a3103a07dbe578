-- Client: psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)
-- Server: PostgreSQL 15.18 (Debian 15.18-0+deb12u1), database "home", user postgres (superuser)
-- Command: psql -X -E -h 127.0.0.1 -p 54329 -U postgres -d home -c '\dT'
-- Captured from the server log (log_statement = 'all'); identical to psql -E's echo.
-- Statements are in the order sent; each terminated by a line containing only ';;'.
-- All are sent with the simple query protocol (Query message), one statement per message.
-- Expected psql output against real PostgreSQL: psql_dT.out

-- protocol: simple
SELECT n.nspname as "Schema",
  pg_catalog.format_type(t.oid, NULL) AS "Name",
  pg_catalog.obj_description(t.oid, 'pg_type') as "Description"
FROM pg_catalog.pg_type t
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE (t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid))
  AND NOT EXISTS(SELECT 1 FROM pg_catalog.pg_type el WHERE el.oid = t.typelem AND el.typarray = t.oid)
      AND n.nspname <> 'pg_catalog'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_type_is_visible(t.oid)
ORDER BY 1, 2;
;;
