-- Client: Npgsql (the .NET driver; Power BI's PostgreSQL connector uses it) — NOT captured (no .NET
--   here). RECONSTRUCTED from npgsql/npgsql src/Npgsql/PostgresDatabaseInfo.cs:
--   * npgsql-current: commit 00ee7a8a47cc61b9419dd334851ec5184ab5bcdd, LoadBackendTypes(): on the
--     first connection to a database Npgsql sends ONE simple Query message holding four statements,
--     each followed by Environment.NewLine ('\r\n' on Windows; '\n' here): 'SELECT version();',
--     GenerateLoadTypesQuery(withRange, withMultirange, loadTableComposites),
--     GenerateLoadCompositeTypesQuery(...), GenerateLoadEnumFieldsQuery(withEnumSortOrder), rendered
--     for the server_version Hearth reports (16.x: withRange and withMultirange true, enum sort
--     order true) with the default LoadTableComposites=false. It reads all four results as TEXT
--     (DataRow fields parsed with uint.Parse / [0] == 't'), expects RowDescription, DataRows and
--     CommandComplete for each and then ReadyForQuery; an error fails the connection attempt.
--     nspname, oid, typname, typtype and typnotnull must not be NULL, typtype must be one of
--     b a r m e c d p (else ArgumentOutOfRangeException).
--   * npgsql4-types: the Npgsql 4.0 series' GenerateTypesQuery(withRange, withEnum,
--     withEnumSortOrder, loadTableComposites) (same file, 2018 version; Power BI Desktop bundles an
--     Npgsql 4.0.x), all true except loadTableComposites. 4.0 runs it as one NpgsqlCommand: split
--     client-side into three statements, each sent Parse/Bind/Describe/Execute (unnamed) with
--     AllResultTypesAreUnknown, i.e. TEXT results, one Sync at the end.
--   Ordinary NpgsqlCommands later use the extended protocol with BINARY results for every
--   column type Npgsql knows (from these queries' answers).
-- Verified: every statement was run on PostgreSQL 15.18 (Debian 15.18-0+deb12u1)
--   (database "home" with the energy table of README.md, superuser, TimeZone Etc/UTC) as a simple
--   Query (text results) and as Parse/Bind/Execute with binary results (psycopg 3 / libpq).
--   '-- pg15:' is what PostgreSQL answered to the simple Query: columns as 'name type' and the
--   row count, or 'ERROR <SQLSTATE> <message>'; '-- pg15 binary:' is added where the binary run
--   answered differently. Row counts depend on the catalog and are not compared.
-- Checker: crates/hearth/tests/integration/pg_corpus.py (runs both protocols against a server).
-- Regenerate: testdata/pg_clients/capture/corpus_fixtures.py.
-- Statements are separated by a line containing only ';;'; '-- id:' names each one.

-- id: npgsql-current
-- api: Npgsql LoadBackendTypes(): one Query message, four statements, text results
-- pg15: 1 column: version text; 1 row
-- pg15: 6 columns: nspname name, oid oid, typname name, typtype char, typnotnull bool, elemtypoid oid; 171 rows
-- pg15: 3 columns: oid oid, attname name, atttypid oid; 0 rows
-- pg15: 2 columns: oid oid, enumlabel name; 0 rows
SELECT version();

SELECT ns.nspname, t.oid, t.typname, t.typtype, t.typnotnull, t.elemtypoid
FROM (
    -- Arrays have typtype=b - this subquery identifies them by their typreceive and converts their typtype to a
    -- We first do this for the type (innerest-most subquery), and then for its element type
    -- This also returns the array element, range subtype and domain base type as elemtypoid
    SELECT
        typ.oid, typ.typnamespace, typ.typname, typ.typtype, typ.typrelid, typ.typnotnull, typ.relkind,
        elemtyp.oid AS elemtypoid, elemtyp.typname AS elemtypname, elemcls.relkind AS elemrelkind,
        CASE WHEN elemproc.proname='array_recv' THEN 'a' ELSE elemtyp.typtype END AS elemtyptype
    FROM (
        SELECT typ.oid, typnamespace, typname, typrelid, typnotnull, relkind, typelem AS elemoid,
            CASE WHEN proc.proname='array_recv' THEN 'a' ELSE typ.typtype END AS typtype,
            CASE
                WHEN proc.proname='array_recv' THEN typ.typelem
                WHEN typ.typtype='r' THEN rngsubtype
                WHEN typ.typtype='m' THEN (SELECT rngtypid FROM pg_range WHERE rngmultitypid = typ.oid)
                WHEN typ.typtype='d' THEN typ.typbasetype
            END AS elemtypoid
        FROM pg_type AS typ
        LEFT JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
        LEFT JOIN pg_proc AS proc ON proc.oid = typ.typreceive
        LEFT JOIN pg_range ON (pg_range.rngtypid = typ.oid)
    ) AS typ
    LEFT JOIN pg_type AS elemtyp ON elemtyp.oid = elemtypoid
    LEFT JOIN pg_class AS elemcls ON (elemcls.oid = elemtyp.typrelid)
    LEFT JOIN pg_proc AS elemproc ON elemproc.oid = elemtyp.typreceive
) AS t
JOIN pg_namespace AS ns ON (ns.oid = typnamespace)
WHERE
    typtype IN ('b', 'r', 'm', 'e', 'd') OR -- Base, range, multirange, enum, domain
    (typtype = 'c' AND relkind='c') OR -- User-defined free-standing composites (not table composites) by default
    (typtype = 'p' AND typname IN ('record', 'void')) OR -- Some special supported pseudo-types
    (typtype = 'a' AND (  -- Array of...
        elemtyptype IN ('b', 'r', 'm', 'e', 'd') OR -- Array of base, range, multirange, enum, domain
        (elemtyptype = 'p' AND elemtypname IN ('record', 'void')) OR -- Arrays of special supported pseudo-types
        (elemtyptype = 'c' AND elemrelkind='c') -- Array of user-defined free-standing composites (not table composites) by default
    ))
ORDER BY CASE
       WHEN typtype IN ('b', 'e', 'p') THEN 0           -- First base types, enums, pseudo-types
       WHEN typtype = 'r' THEN 1                        -- Ranges after
       WHEN typtype = 'm' THEN 2                        -- Multiranges after
       WHEN typtype = 'c' THEN 3                        -- Composites after
       WHEN typtype = 'd' AND elemtyptype <> 'a' THEN 4 -- Domains over non-arrays after
       WHEN typtype = 'a' THEN 5                        -- Arrays after
       WHEN typtype = 'd' AND elemtyptype = 'a' THEN 6  -- Domains over arrays last
END;

-- Load field definitions for (free-standing) composite types
SELECT typ.oid, att.attname, att.atttypid
FROM pg_type AS typ
JOIN pg_namespace AS ns ON (ns.oid = typ.typnamespace)
JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
JOIN pg_attribute AS att ON (att.attrelid = typ.typrelid)
WHERE
  (typ.typtype = 'c' AND cls.relkind='c') AND
  attnum > 0 AND     -- Don't load system attributes
  NOT attisdropped
ORDER BY typ.oid, att.attnum;

-- Load enum fields
SELECT pg_type.oid, enumlabel
FROM pg_enum
JOIN pg_type ON pg_type.oid=enumtypid
ORDER BY oid, enumsortorder;
;;
-- id: npgsql4-types
-- api: Npgsql 4.0 GenerateTypesQuery(true, true, true, false): three statements, extended protocol, text results
-- pg15: 8 columns: nspname name, typname name, oid oid, typrelid oid, typbasetype oid, type char, elemoid oid, ord int4; 373 rows
-- pg15: 3 columns: oid oid, attname name, atttypid oid; 0 rows
-- pg15: 2 columns: oid oid, enumlabel name; 0 rows
/*** Load all supported types ***/
SELECT ns.nspname, a.typname, a.oid, a.typrelid, a.typbasetype,
CASE WHEN pg_proc.proname='array_recv' THEN 'a' ELSE a.typtype END AS type,
CASE
  WHEN pg_proc.proname='array_recv' THEN a.typelem
  WHEN a.typtype='r' THEN rngsubtype
  ELSE 0
END AS elemoid,
CASE
  WHEN pg_proc.proname IN ('array_recv','oidvectorrecv') THEN 3    /* Arrays last */
  WHEN a.typtype='r' THEN 2                                        /* Ranges before */
  WHEN a.typtype='d' THEN 1                                        /* Domains before */
  ELSE 0                                                           /* Base types first */
END AS ord
FROM pg_type AS a
JOIN pg_namespace AS ns ON (ns.oid = a.typnamespace)
JOIN pg_proc ON pg_proc.oid = a.typreceive
LEFT OUTER JOIN pg_class AS cls ON (cls.oid = a.typrelid)
LEFT OUTER JOIN pg_type AS b ON (b.oid = a.typelem)
LEFT OUTER JOIN pg_class AS elemcls ON (elemcls.oid = b.typrelid)
LEFT OUTER JOIN pg_range ON (pg_range.rngtypid = a.oid) 
WHERE
  a.typtype IN ('b', 'r', 'e', 'd') OR         /* Base, range, enum, domain */
  (a.typtype = 'c' AND cls.relkind='c') OR /* User-defined free-standing composites (not table composites) by default */
  (pg_proc.proname='array_recv' AND (
    b.typtype IN ('b', 'r', 'e', 'd') OR       /* Array of base, range, enum, domain */
    (b.typtype = 'p' AND b.typname IN ('record', 'void')) OR /* Arrays of special supported pseudo-types */
    (b.typtype = 'c' AND elemcls.relkind='c')  /* Array of user-defined free-standing composites (not table composites) */
  )) OR
  (a.typtype = 'p' AND a.typname IN ('record', 'void'))  /* Some special supported pseudo-types */
ORDER BY ord;

/*** Load field definitions for (free-standing) composite types ***/
SELECT typ.oid, att.attname, att.atttypid
FROM pg_type AS typ
JOIN pg_namespace AS ns ON (ns.oid = typ.typnamespace)
JOIN pg_class AS cls ON (cls.oid = typ.typrelid)
JOIN pg_attribute AS att ON (att.attrelid = typ.typrelid)
WHERE
  (typ.typtype = 'c' AND cls.relkind='c') AND
  attnum > 0 AND     /* Don't load system attributes */
  NOT attisdropped
ORDER BY typ.typname, att.attnum;

/*** Load enum fields ***/
SELECT pg_type.oid, enumlabel
FROM pg_enum
JOIN pg_type ON pg_type.oid=enumtypid
ORDER BY oid, enumsortorder;
;;
