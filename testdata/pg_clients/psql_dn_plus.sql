-- Client: psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)
-- Server: PostgreSQL 15.18 (Debian 15.18-0+deb12u1), database "home", user postgres (superuser)
-- Command: psql -X -E -h 127.0.0.1 -p 54329 -U postgres -d home -c '\dn+'
-- Captured from the server log (log_statement = 'all'); identical to psql -E's echo.
-- Statements are in the order sent; each terminated by a line containing only ';;'.
-- All are sent with the simple query protocol (Query message), one statement per message.
-- Expected psql output against real PostgreSQL: psql_dn_plus.out

-- protocol: simple
SELECT n.nspname AS "Name",
  pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner",
  pg_catalog.array_to_string(n.nspacl, E'\n') AS "Access privileges",
  pg_catalog.obj_description(n.oid, 'pg_namespace') AS "Description"
FROM pg_catalog.pg_namespace n
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
ORDER BY 1;
;;
