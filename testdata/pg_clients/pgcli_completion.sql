-- Client: pgcli (psycopg 3) — NOT captured here. Statements are the PGCLI_QUERIES of
--   datafusion-postgres 0.19.0 tests/pgcli.rs (cargo registry), in order, verbatim: startup and the
--   auto-completion metadata (schemas, tables, columns, foreign keys, views, types, databases,
--   functions).
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

-- id: pgcli-0
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[0]
-- pg15: 1 column: ?column? int4; 1 row
SELECT 1
;;
-- id: pgcli-1
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[1]
-- pg15: 1 column: TimeZone text; 1 row
show time zone
;;
-- id: pgcli-2
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[2]
-- pg15: 0 columns; SET
set time zone "Asia/Shanghai"
;;
-- id: pgcli-3
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[3]
-- pg15: 1 column: unnest name; 2 rows
SELECT * FROM unnest(current_schemas(true))
;;
-- id: pgcli-4
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[4]
-- pg15: 1 column: nspname name; 4 rows
SELECT  nspname
                FROM    pg_catalog.pg_namespace
                ORDER BY 1
;;
-- id: pgcli-5
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[5]
-- pg15: 2 columns: schema_name name, table_name name; 69 rows
SELECT  n.nspname schema_name,
                        c.relname table_name
                FROM    pg_catalog.pg_class c
                        LEFT JOIN pg_catalog.pg_namespace n
                            ON n.oid = c.relnamespace
                WHERE   c.relkind = ANY('{r,p,f}')
                ORDER BY 1,2;
;;
-- id: pgcli-6
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[6]
-- pg15: 6 columns: schema_name name, table_name name, column_name name, type_name text, has_default bool, default text; 614 rows
SELECT  nsp.nspname schema_name,
                                cls.relname table_name,
                                att.attname column_name,
                                att.atttypid::regtype::text type_name,
                                att.atthasdef AS has_default,
                                pg_catalog.pg_get_expr(def.adbin, def.adrelid, true) as default
                        FROM    pg_catalog.pg_attribute att
                                INNER JOIN pg_catalog.pg_class cls
                                    ON att.attrelid = cls.oid
                                INNER JOIN pg_catalog.pg_namespace nsp
                                    ON cls.relnamespace = nsp.oid
                                LEFT OUTER JOIN pg_attrdef def
                                    ON def.adrelid = att.attrelid
                                    AND def.adnum = att.attnum
                        WHERE   cls.relkind = ANY('{r,p,f}')
                                AND NOT att.attisdropped
                                AND att.attnum  > 0
                        ORDER BY 1, 2, att.attnum
;;
-- id: pgcli-7
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[7]
-- pg15: 6 columns: parentschema name, parenttable name, parentcolumn name, childschema name, childtable name, childcolumn name; 0 rows
SELECT s_p.nspname AS parentschema,
                               t_p.relname AS parenttable,
                               unnest((
                                select
                                    array_agg(attname ORDER BY i)
                                from
                                    (select unnest(confkey) as attnum, generate_subscripts(confkey, 1) as i) x
                                    JOIN pg_catalog.pg_attribute c USING(attnum)
                                    WHERE c.attrelid = fk.confrelid
                                )) AS parentcolumn,
                               s_c.nspname AS childschema,
                               t_c.relname AS childtable,
                               unnest((
                                select
                                    array_agg(attname ORDER BY i)
                                from
                                    (select unnest(conkey) as attnum, generate_subscripts(conkey, 1) as i) x
                                    JOIN pg_catalog.pg_attribute c USING(attnum)
                                    WHERE c.attrelid = fk.conrelid
                                )) AS childcolumn
                        FROM pg_catalog.pg_constraint fk
                        JOIN pg_catalog.pg_class      t_p ON t_p.oid = fk.confrelid
                        JOIN pg_catalog.pg_namespace  s_p ON s_p.oid = t_p.relnamespace
                        JOIN pg_catalog.pg_class      t_c ON t_c.oid = fk.conrelid
                        JOIN pg_catalog.pg_namespace  s_c ON s_c.oid = t_c.relnamespace
                        WHERE fk.contype = 'f'
;;
-- id: pgcli-8
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[8]
-- pg15: 2 columns: schema_name name, table_name name; 140 rows
SELECT  n.nspname schema_name,
                        c.relname table_name
                FROM    pg_catalog.pg_class c
                        LEFT JOIN pg_catalog.pg_namespace n
                            ON n.oid = c.relnamespace
                WHERE   c.relkind = ANY('{v,m}')
                ORDER BY 1,2;
;;
-- id: pgcli-9
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[9]
-- pg15: 6 columns: schema_name name, table_name name, column_name name, type_name text, has_default bool, default text; 1396 rows
SELECT  nsp.nspname schema_name,
                                cls.relname table_name,
                                att.attname column_name,
                                att.atttypid::regtype::text type_name,
                                att.atthasdef AS has_default,
                                pg_catalog.pg_get_expr(def.adbin, def.adrelid, true) as default
                        FROM    pg_catalog.pg_attribute att
                                INNER JOIN pg_catalog.pg_class cls
                                    ON att.attrelid = cls.oid
                                INNER JOIN pg_catalog.pg_namespace nsp
                                    ON cls.relnamespace = nsp.oid
                                LEFT OUTER JOIN pg_attrdef def
                                    ON def.adrelid = att.attrelid
                                    AND def.adnum = att.attnum
                        WHERE   cls.relkind = ANY('{v,m}')
                                AND NOT att.attisdropped
                                AND att.attnum  > 0
                        ORDER BY 1, 2, att.attnum
;;
-- id: pgcli-10
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[10]
-- pg15: 2 columns: schema_name name, type_name name; 0 rows
SELECT n.nspname schema_name,
                                   t.typname type_name
                            FROM   pg_catalog.pg_type t
                                   INNER JOIN pg_catalog.pg_namespace n
                                      ON n.oid = t.typnamespace
                            WHERE ( t.typrelid = 0  -- non-composite types
                                    OR (  -- composite type, but not a table
                                          SELECT c.relkind = 'c'
                                          FROM pg_catalog.pg_class c
                                          WHERE c.oid = t.typrelid
                                        )
                                  )
                                  AND NOT EXISTS( -- ignore array types
                                        SELECT  1
                                        FROM    pg_catalog.pg_type el
                                        WHERE   el.oid = t.typelem AND el.typarray = t.oid
                                      )
                                  AND n.nspname <> 'pg_catalog'
                                  AND n.nspname <> 'information_schema'
                            ORDER BY 1, 2
;;
-- id: pgcli-11
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[11]
-- pg15: 1 column: datname name; 4 rows
SELECT d.datname
                FROM pg_catalog.pg_database d
                ORDER BY 1
;;
-- id: pgcli-12
-- api: datafusion-postgres 0.19.0 tests/pgcli.rs PGCLI_QUERIES[12]
-- pg15: 11 columns: schema_name name, func_name name, proargnames text[], coalesce text[], proargmodes char[], return_type text, is_aggregate bool, is_window bool, is_set_returning bool, is_extension bool, arg_defaults text; 3227 rows
SELECT n.nspname schema_name,
                                p.proname func_name,
                                p.proargnames,
                                COALESCE(proallargtypes::regtype[], proargtypes::regtype[])::text[],
                                p.proargmodes,
                                prorettype::regtype::text return_type,
                                p.prokind = 'a' is_aggregate,
                                p.prokind = 'w' is_window,
                                p.proretset is_set_returning,
                                d.deptype = 'e' is_extension,
                                pg_get_expr(proargdefaults, 0) AS arg_defaults
                        FROM pg_catalog.pg_proc p
                                INNER JOIN pg_catalog.pg_namespace n
                                    ON n.oid = p.pronamespace
                        LEFT JOIN pg_depend d ON d.objid = p.oid and d.deptype = 'e'
                        WHERE p.prorettype::regtype != 'trigger'::regtype
                        ORDER BY 1, 2
;;
