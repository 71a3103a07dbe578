-- Client: psql (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)
-- Server: PostgreSQL 15.18 (Debian 15.18-0+deb12u1), database "home", user postgres (superuser)
-- Command: psql -X -E -h 127.0.0.1 -p 54329 -U postgres -d home -c '\du'
-- Captured from the server log (log_statement = 'all'); identical to psql -E's echo.
-- Statements are in the order sent; each terminated by a line containing only ';;'.
-- All are sent with the simple query protocol (Query message), one statement per message.
-- Expected psql output against real PostgreSQL: psql_du.out

-- protocol: simple
SELECT r.rolname, r.rolsuper, r.rolinherit,
  r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
  r.rolconnlimit, r.rolvaliduntil,
  ARRAY(SELECT b.rolname
        FROM pg_catalog.pg_auth_members m
        JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid)
        WHERE m.member = r.oid) as memberof
, r.rolreplication
, r.rolbypassrls
FROM pg_catalog.pg_roles r
WHERE r.rolname !~ '^pg_'
ORDER BY 1;
;;
