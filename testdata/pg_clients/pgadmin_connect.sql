-- Client: pgAdmin 4 (psycopg 3) — NOT captured here. Statements are the PGADMIN_QUERIES of
--   datafusion-postgres 0.19.0 tests/pgadmin.rs (cargo registry; from datafusion-postgres issue
--   #178): version() and the replication-type probe on connect.
-- Protocol: not observed. psycopg 3 sends argument-less queries as a simple Query.
-- Verified: every statement was run on PostgreSQL 15.18 (Debian 15.18-0+deb12u1)
--   (database "home" with the energy table of README.md, superuser, TimeZone Etc/UTC) as a simple
--   Query (text results) and as Parse/Bind/Execute with binary results (psycopg 3 / libpq).
--   '-- pg15:' is what PostgreSQL answered to the simple Query: columns as 'name type' and the
--   row count, or 'ERROR <SQLSTATE> <message>'; '-- pg15 binary:' is added where the binary run
--   answered differently. Row counts depend on the catalog and are not compared.
-- Checker: crates/hearth/tests/integration/pg_corpus.py (runs both protocols against a server).
-- Regenerate: testdata/pg_clients/capture/corpus_fixtures.py.
-- Statements are separated by a line containing only ';;'; '-- id:' names each one.

-- id: pgadmin-0
-- api: datafusion-postgres 0.19.0 tests/pgadmin.rs PGADMIN_QUERIES[0]
-- pg15: 1 column: version text; 1 row
SELECT version()
;;
-- id: pgadmin-1
-- api: datafusion-postgres 0.19.0 tests/pgadmin.rs PGADMIN_QUERIES[1]
-- pg15: 1 column: type text; 1 row
SELECT CASE
        WHEN (SELECT count(extname) FROM pg_catalog.pg_extension WHERE extname='bdr') > 0
        THEN 'pgd'
        WHEN (SELECT COUNT(*) FROM pg_replication_slots) > 0
        THEN 'log'
        ELSE NULL
    END as type
;;
