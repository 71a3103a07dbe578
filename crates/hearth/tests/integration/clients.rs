//! PostgreSQL compatibility with the clients analysts use, through the real binary:
//!
//! - the SQL psql, SQLAlchemy, pandas, pgjdbc and Grafana sent to a real PostgreSQL 15
//!   (`testdata/pg_clients/`, captured with `log_statement = 'all'`), replayed statement by
//!   statement: each must run on Hearth;
//! - psql itself: meta-commands, `\copy` both ways, output formats;
//! - tokio-postgres: typed parameters in text and binary, portals with a row limit, errors
//!   with their SQLSTATE on a connection that stays usable, cancel of a running query;
//! - psycopg and SQLAlchemy (Python), and pgjdbc (Java): connect, reflect, query.

use std::path::PathBuf;
use std::process::Command;

use tokio_postgres::SimpleQueryMessage;

use crate::server::{Server, manifest_dir, post};

/// The fixtures directory.
fn fixtures() -> PathBuf {
    manifest_dir().join("../../testdata/pg_clients")
}

/// One captured statement: its text with parameters put in as literals, and how it was sent.
#[derive(Debug)]
struct Captured {
    file: String,
    sql: String,
}

/// The statements of a fixture file (`;;` lines end statements; `-- params: $1 = '...'`
/// comments give the values of extended-protocol parameters, inlined here).
fn statements(file: &str) -> Vec<Captured> {
    let text = std::fs::read_to_string(fixtures().join(file)).unwrap();
    let mut out = Vec::new();
    for chunk in text.split("\n;;\n") {
        let mut params: Vec<(String, String)> = Vec::new();
        let mut sql = String::new();
        for line in chunk.lines() {
            if let Some(p) = line.strip_prefix("-- params:") {
                // `$1 = 'a', $2 = '1'` (values are single-quoted, quotes doubled inside).
                let mut rest = p.trim();
                while let Some(eq) = rest.find(" = '") {
                    let name = rest[..eq].trim().trim_start_matches(',').trim().to_string();
                    let after = &rest[eq + 4..];
                    let mut value = String::new();
                    let mut chars = after.char_indices().peekable();
                    let mut end = after.len();
                    while let Some((i, c)) = chars.next() {
                        if c == '\'' {
                            if chars.peek().map(|(_, n)| *n) == Some('\'') {
                                value.push('\'');
                                chars.next();
                                continue;
                            }
                            end = i + 1;
                            break;
                        }
                        value.push(c);
                    }
                    params.push((name, value));
                    rest = &after[end..];
                }
                continue;
            }
            if line.starts_with("--") && sql.is_empty() {
                continue;
            }
            sql.push_str(line);
            sql.push('\n');
        }
        let mut sql = sql.trim().trim_end_matches(';').to_string();
        if sql.is_empty() {
            continue;
        }
        // Highest numbers first, so $1 does not replace the start of $10.
        params.sort_by_key(|(name, _)| std::cmp::Reverse(name[1..].parse::<u32>().unwrap_or(0)));
        for (name, value) in params {
            sql = sql.replace(&name, &format!("'{}'", value.replace('\'', "''")));
        }
        out.push(Captured {
            file: file.to_string(),
            sql,
        });
    }
    out
}

/// A server with database `home` holding `energy` as the fixtures' PostgreSQL had it.
async fn home() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let body = "energy,household=h1,meter=m1 import_kwh=1.5,power_w=230 1764000000\n\
                energy,household=h2,meter=m1 import_kwh=2.5,power_w=100.5 1764000060";
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    assert_eq!(post(&url, body).await.0, 204);
    (dir, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_drivers_sent_postgres_gets_the_same_answers_from_hearth() {
    let (_dir, server) = home().await;
    let traces: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".wire.txt"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(traces.len() >= 10, "{traces:?}");
    let out = Command::new("python3")
        .arg(manifest_dir().join("tests/integration/pg_replay.py"))
        .args([
            "--host",
            &server.pg.ip().to_string(),
            "--port",
            &server.pg.port().to_string(),
        ])
        .args(&traces)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replayed client traces differ from PostgreSQL's answers:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The catalog queries of DBeaver, Metabase, pgcli, pgAdmin and Npgsql (Power BI), over the
/// simple protocol, the extended one with binary results and named statements: no error, column
/// count or wire value PostgreSQL 15 would not give (`pg_corpus.py` lists the accepted
/// differences and the open bugs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_queries_of_gui_tools_and_drivers_run_as_on_postgres() {
    let (_dir, server) = home().await;
    let files: Vec<String> = [
        "dbeaver_metadata.sql",
        "metabase_sync.sql",
        "pgcli_completion.sql",
        "pgadmin_connect.sql",
        "npgsql_types.sql",
    ]
    .iter()
    .map(|f| fixtures().join(f).display().to_string())
    .collect();
    let out = Command::new("python3")
        .arg(manifest_dir().join("tests/integration/pg_corpus.py"))
        .args([
            "--host",
            &server.pg.ip().to_string(),
            "--port",
            &server.pg.port().to_string(),
        ])
        .args(&files)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "client catalog queries:\n{report}");
    assert!(
        !report.contains("XPASS"),
        "an open bug is fixed; update OPEN_BUGS:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_queries_of_psql_and_grafana_run() {
    let (_dir, server) = home().await;
    let client = server.pg("home").await;
    let files = [
        "psql_l.sql",
        "psql_l_plus.sql",
        "psql_dn.sql",
        "psql_dn_plus.sql",
        "psql_dt.sql",
        "psql_dt_plus.sql",
        "psql_d.sql",
        "psql_d_energy.sql",
        "psql_d_plus_energy.sql",
        "psql_df.sql",
        "psql_dv.sql",
        "psql_dx.sql",
        "psql_du.sql",
        "psql_di.sql",
        "psql_dT.sql",
        "grafana_postgres_datasource.sql",
    ];
    let mut failures = Vec::new();
    let mut count = 0;
    for file in files {
        for s in statements(file) {
            count += 1;
            // A failed statement inside BEGIN would abort the block, as in PostgreSQL: roll
            // it back so the next one runs.
            if let Err(e) = client.simple_query(&s.sql).await {
                let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
                let e = e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string());
                failures.push(format!(
                    "{} [{code}] {}\n  {}",
                    s.file,
                    e,
                    s.sql.replace('\n', " ")
                ));
                let _ = client.simple_query("ROLLBACK").await;
            }
        }
    }
    assert!(count > 30, "only {count} statements read from the fixtures");
    assert!(
        failures.is_empty(),
        "{} of {count} captured client statements failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs psql with `args` against `db`; returns stdout, and panics with stderr on failure.
pub(crate) fn psql(server: &Server, db: &str, args: &[&str]) -> String {
    let out = Command::new("psql")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-h"])
        .arg(server.pg.ip().to_string())
        .arg("-p")
        .arg(server.pg.port().to_string())
        .args(["-U", "analyst", "-d", db])
        .args(args)
        .output()
        .expect("psql runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("ERROR"),
        "psql {args:?} failed: {stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_meta_commands_show_what_postgres_would() {
    let (_dir, server) = home().await;
    let l = psql(&server, "home", &["-c", "\\l"]);
    assert!(l.contains(" home "), "{l}");
    let dt = psql(&server, "home", &["-c", "\\dt"]);
    assert!(dt.contains("public | energy | table"), "{dt}");
    let d = psql(&server, "home", &["-c", "\\d energy"]);
    for line in [
        "household  | text                     |",
        "import_kwh | double precision         |",
        "time       | timestamp with time zone |           | not null |",
    ] {
        assert!(d.contains(line), "missing {line:?} in:\n{d}");
    }
    // A primary key's columns are NOT NULL, in `\d` (pg_attribute) and information_schema.
    psql(
        &server,
        "home",
        &[
            "-c",
            "CREATE TABLE tariffs (tariff text PRIMARY KEY, eur double precision)",
        ],
    );
    let d = psql(&server, "home", &["-c", "\\d tariffs"]);
    for line in [
        "tariff | text             |           | not null |",
        "eur    | double precision |           |          |",
    ] {
        assert!(d.contains(line), "missing {line:?} in:\n{d}");
    }
    let nullable = psql(
        &server,
        "home",
        &[
            "-A",
            "-t",
            "-c",
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns \
             WHERE table_name IN ('tariffs', 'energy') ORDER BY table_name, ordinal_position",
        ],
    );
    assert!(
        nullable.starts_with("energy|household|YES\n") && nullable.contains("energy|time|NO\n"),
        "{nullable}"
    );
    assert!(
        nullable.ends_with("tariffs|tariff|NO\ntariffs|eur|YES\n"),
        "{nullable}"
    );
    let dn = psql(&server, "home", &["-c", "\\dn"]);
    assert!(dn.contains("public"), "{dn}");
    psql(&server, "home", &["-c", "\\df"]);
    psql(&server, "home", &["-c", "\\dv"]);
    // Values as PostgreSQL prints them.
    let values = psql(
        &server,
        "home",
        &[
            "-A",
            "-t",
            "-c",
            "SELECT household, power_w, time FROM energy ORDER BY household",
        ],
    );
    assert_eq!(
        values,
        "h1|230|2025-11-24 16:00:00+00\nh2|100.5|2025-11-24 16:01:00+00\n"
    );
    let formats = psql(
        &server,
        "home",
        &[
            "-A",
            "-t",
            "-c",
            "SELECT 1e20::double precision, 1e-7::double precision, 0.1 + 0.2, \
             'Infinity'::double precision, TIMESTAMPTZ '2024-01-01 00:00:00.5+00', true",
        ],
    );
    assert_eq!(
        formats,
        "1e+20|1e-07|0.30000000000000004|Infinity|2024-01-01 00:00:00.5+00|t\n"
    );
    let show = psql(
        &server,
        "home",
        &[
            "-A",
            "-t",
            "-c",
            "SHOW server_version_num",
            "-c",
            "SHOW standard_conforming_strings",
            "-c",
            "SELECT current_setting('TimeZone'), current_database(), current_schema()",
        ],
    );
    assert_eq!(show, "160006\non\nUTC|home|public\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_creates_describes_refreshes_and_drops_a_materialized_view() {
    let (_dir, server) = home().await;
    let created = psql(
        &server,
        "home",
        &[
            "-c",
            "CREATE MATERIALIZED VIEW energy_1h AS SELECT date_bin(INTERVAL '1 hour', time) AS time, \
             household, max(power_w) AS peak_w, count(*) AS readings FROM energy GROUP BY 1, 2",
        ],
    );
    assert_eq!(created.trim(), "SELECT 2");
    let d = psql(&server, "home", &["-c", "\\d energy_1h"]);
    assert!(d.contains("Materialized view \"public.energy_1h\""), "{d}");
    for line in [
        "time      | timestamp with time zone |",
        "household | text                     |",
        "peak_w    | double precision         |",
        "readings  | bigint                   |",
    ] {
        assert!(d.contains(line), "missing {line:?} in:\n{d}");
    }
    let dm = psql(&server, "home", &["-c", "\\dm"]);
    assert!(
        dm.contains("public | energy_1h | materialized view"),
        "{dm}"
    );
    let dt = psql(&server, "home", &["-c", "\\dt"]);
    assert!(!dt.contains("energy_1h"), "{dt}");
    let rows = psql(
        &server,
        "home",
        &[
            "-A",
            "-t",
            "-c",
            "REFRESH MATERIALIZED VIEW energy_1h",
            "-c",
            "SELECT household, peak_w, readings, time FROM energy_1h ORDER BY household",
            "-c",
            "SELECT matviewname, ispopulated FROM pg_matviews",
            "-c",
            "DROP MATERIALIZED VIEW energy_1h",
        ],
    );
    assert_eq!(
        rows,
        "REFRESH MATERIALIZED VIEW\n\
         h1|230|1|2025-11-24 16:00:00+00\n\
         h2|100.5|1|2025-11-24 16:00:00+00\n\
         energy_1h|t\n\
         DROP MATERIALIZED VIEW\n"
    );
    let dm = psql(&server, "home", &["-c", "\\dm"]);
    assert!(
        dm.contains("Did not find any relations") || !dm.contains("energy_1h"),
        "{dm}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_copy_in_and_out_through_the_wal() {
    let (dir, server) = home().await;
    let csv = dir.path().join("in.csv");
    std::fs::write(
        &csv,
        "household,meter,import_kwh,power_w,time\n\
         h3,m1,7.25,,2025-11-24 16:02:00+00\n\
         \"h,4\",m2,8,42,2025-11-24T16:03:00Z\n",
    )
    .unwrap();
    let out = psql(
        &server,
        "home",
        &[
            "-c",
            &format!(
                "\\copy energy FROM '{}' WITH (FORMAT csv, HEADER)",
                csv.display()
            ),
        ],
    );
    assert_eq!(out.trim(), "COPY 2");
    // Visible at once (they went through the WAL and the buffer), and merged by identity:
    // a second copy of h3's row fills in its power.
    let text = dir.path().join("in.txt");
    std::fs::write(&text, "h3\tm1\t\\N\t99.5\t2025-11-24 16:02:00+00\n").unwrap();
    let out = psql(
        &server,
        "home",
        &["-c", &format!("\\copy energy FROM '{}'", text.display())],
    );
    assert_eq!(out.trim(), "COPY 1");
    let exported = dir.path().join("out.csv");
    let out = psql(
        &server,
        "home",
        &[
            "-c",
            &format!(
                "\\copy (SELECT household, import_kwh, power_w, time FROM energy ORDER BY household) TO '{}' WITH (FORMAT csv, HEADER)",
                exported.display()
            ),
        ],
    );
    assert_eq!(out.trim(), "COPY 4");
    assert_eq!(
        std::fs::read_to_string(&exported).unwrap(),
        "household,import_kwh,power_w,time\n\
         \"h,4\",8,42,2025-11-24 16:03:00+00\n\
         h1,1.5,230,2025-11-24 16:00:00+00\n\
         h2,2.5,100.5,2025-11-24 16:01:00+00\n\
         h3,7.25,99.5,2025-11-24 16:02:00+00\n"
    );
    // A bad value names its line and column, and nothing of that COPY is written.
    std::fs::write(
        &csv,
        "h5,m1,1,2,2025-11-24 16:04:00+00\nh6,m1,lots,2,2025-11-24 16:05:00+00\n",
    )
    .unwrap();
    let bad = Command::new("psql")
        .args(["-X", "-h"])
        .arg(server.pg.ip().to_string())
        .arg("-p")
        .arg(server.pg.port().to_string())
        .args(["-d", "home", "-c"])
        .arg(format!(
            "\\copy energy FROM '{}' WITH (FORMAT csv)",
            csv.display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("invalid input syntax for type double precision: \"lots\"")
            && stderr.contains("line 2, column import_kwh"),
        "{stderr}"
    );
    let count = psql(
        &server,
        "home",
        &["-A", "-t", "-c", "SELECT count(*) FROM energy"],
    );
    assert_eq!(count.trim(), "4");
    // The copied rows are durable: a kill -9 and restart keeps them.
    let data = dir.path().to_path_buf();
    server.kill9();
    let server = Server::start(&data, &[]);
    let count = psql(
        &server,
        "home",
        &["-A", "-t", "-c", "SELECT count(*) FROM energy"],
    );
    assert_eq!(count.trim(), "4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protocol_parameters_binary_results_portals_and_errors() {
    let (_dir, server) = home().await;
    let client = server.pg("home").await;
    // tokio-postgres sends typed parameters in binary and reads every result in binary.
    let since: std::time::SystemTime =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_000_030);
    let rows = client
        .query(
            "SELECT household, import_kwh, power_w, time FROM energy \
             WHERE time >= $1 AND import_kwh > $2 AND household <> $3",
            &[&since, &1.0f64, &"nobody"],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let household: &str = rows[0].get(0);
    let kwh: f64 = rows[0].get(1);
    let power: f64 = rows[0].get(2);
    let time: std::time::SystemTime = rows[0].get(3);
    assert_eq!((household, kwh, power), ("h2", 2.5, 100.5));
    assert_eq!(
        time,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_000_060)
    );
    // Integers, booleans, and untyped text parameters the server types itself.
    let row = client
        .query_one(
            "SELECT $1::bigint + 1 AS n, NOT $2::boolean AS b, count(*) AS c FROM energy WHERE household = $3",
            &[&41i64, &false, &"h1"],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, i64>(0),
            row.get::<_, bool>(1),
            row.get::<_, i64>(2)
        ),
        (42, true, 1)
    );
    // A named statement run twice, and a portal read 2 rows at a time.
    let statement = client
        .prepare("SELECT power_w FROM energy WHERE household = $1")
        .await
        .unwrap();
    for (who, want) in [("h1", 230.0), ("h2", 100.5)] {
        let row = client.query_one(&statement, &[&who]).await.unwrap();
        assert_eq!(row.get::<_, f64>(0), want);
    }
    let mut client = client;
    let tx = client.transaction().await.unwrap();
    let many = tx
        .prepare("SELECT v FROM generate_series(1, 5) AS t(v) ORDER BY v")
        .await
        .unwrap();
    let portal = tx.bind(&many, &[]).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let batch = tx.query_portal(&portal, 2).await.unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 2);
        seen.extend(batch.iter().map(|r| r.get::<_, i64>(0)));
    }
    assert_eq!(seen, [1, 2, 3, 4, 5]);
    tx.commit().await.unwrap();
    // Errors carry PostgreSQL's SQLSTATE, and the connection goes on.
    for (sql, code) in [
        ("SELECT * FROM nope", "42P01"),
        ("SELECT nope FROM energy", "42703"),
        ("SELEC 1", "42601"),
        ("SELECT 1/0", "22012"),
        ("SELECT 'abc'::int", "22P02"),
        ("SET no_such_setting = 1", "42704"),
        ("COPY energy TO '/tmp/energy.csv'", "42501"),
        // Not PostgreSQL syntax, so it never reaches DataFusion's parser (which knows it).
        (
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
            "42601",
        ),
        ("SET datafusion.runtime.memory_limit = '1G'", "42501"),
        ("CREATE VIEW v AS SELECT 1", "0A000"),
        ("DROP TABLE nope", "42P01"),
        ("CREATE TABLE t (a numeric)", "0A000"),
    ] {
        let e = client.simple_query(sql).await.unwrap_err();
        assert_eq!(e.code().map(|c| c.code()), Some(code), "{sql}: {e}");
        let e = client.query(sql, &[]).await.unwrap_err();
        assert_eq!(
            e.code().map(|c| c.code()),
            Some(code),
            "{sql} (extended): {e}"
        );
        let row = client.query_one("SELECT 1::int4", &[]).await.unwrap();
        assert_eq!(row.get::<_, i32>(0), 1);
    }
    // In one simple-protocol message, statements before an error ran; the rest did not.
    let e = client
        .batch_execute("INSERT INTO energy (household, meter, power_w, time) VALUES ('h9', 'm1', 1, '2025-11-24 17:00:00+00'); SELECT 1/0; INSERT INTO energy (household, meter, power_w, time) VALUES ('h10', 'm1', 1, '2025-11-24 17:00:00+00')")
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("22012"));
    let rows = client
        .query(
            "SELECT household FROM energy WHERE time = '2025-11-24 17:00:00+00' ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, ["h9"]);

    // Hearth's own statements and DataFusion's mix in one message. A syntax error anywhere in
    // it runs nothing, as in PostgreSQL.
    const VIEW: &str = "CREATE MATERIALIZED VIEW peaks AS SELECT date_bin(INTERVAL '1 hour', time) \
                        AS time, household, max(power_w) AS peak FROM energy GROUP BY 1, 2";
    let e = client
        .batch_execute(&format!("{VIEW}; SELEC 1"))
        .await
        .unwrap_err();
    assert_eq!(e.code().map(|c| c.code()), Some("42601"), "{e}");
    assert_eq!(
        first_value(&client, "SELECT count(*) FROM pg_matviews").await,
        "0"
    );
    let done = client
        .simple_query(&format!(
            "{VIEW}; REFRESH MATERIALIZED VIEW peaks; \
             SELECT household FROM peaks WHERE peak = 1 /* h9; */ ORDER BY 1; \
             DROP MATERIALIZED VIEW peaks; SELECT 'dropped;'"
        ))
        .await
        .unwrap();
    let seen: Vec<String> = done
        .iter()
        .map(|m| match m {
            SimpleQueryMessage::Row(r) => format!("row {}", r.get(0).unwrap()),
            SimpleQueryMessage::CommandComplete(n) => format!("done {n}"),
            _ => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        seen,
        [
            "done 3",
            "done 0",
            "row h9",
            "done 1",
            "done 0",
            "row dropped;",
            "done 1"
        ]
    );
}

/// Result columns carry the names PostgreSQL gives them, in both protocols: clients look
/// values up by name (`row["count"]`, DataFrame columns), and psql prints them as headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_columns_are_named_as_postgres_names_them() {
    let (_dir, server) = home().await;
    let client = server.pg("home").await;
    let cases: [(&str, &[&str]); 6] = [
        (
            "SELECT 1, count(*), max(power_w) AS top, household, 1::int, now() - now(), \
             CASE WHEN true THEN 1 END FROM energy GROUP BY household",
            &[
                "?column?",
                "count",
                "top",
                "household",
                "int4",
                "?column?",
                "case",
            ],
        ),
        // Two columns DataFusion would name alike, which PostgreSQL allows.
        ("SELECT 1, 1::bigint, 1", &["?column?", "int8", "?column?"]),
        (
            "SELECT n.oid, n.* FROM pg_namespace n LIMIT 1",
            &["oid", "oid", "nspname", "nspowner", "nspacl"],
        ),
        ("SELECT * FROM generate_series(1, 2)", &["generate_series"]),
        ("SELECT count(*) FROM energy UNION ALL SELECT 7", &["count"]),
        ("SHOW TIME ZONE", &["TimeZone"]),
    ];
    for (sql, want) in cases {
        let described = client.prepare(sql).await.unwrap();
        let names: Vec<&str> = described.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, want, "extended: {sql}");
        let rows = client.simple_query(sql).await.unwrap();
        let names: Vec<&str> = rows
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::RowDescription(columns) => {
                    Some(columns.iter().map(|c| c.name()).collect())
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(names, want, "simple: {sql}");
    }
    let out = psql(
        &server,
        "home",
        &["-c", "SELECT count(*), 2 AS two FROM energy"],
    );
    assert!(out.contains(" count | two "), "{out}");
}

/// The first value of the first row of a simple query.
async fn first_value(c: &tokio_postgres::Client, sql: &str) -> String {
    let rows = c.simple_query(sql).await.unwrap();
    rows.into_iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap()
}

async fn show(c: &tokio_postgres::Client, what: &str) -> String {
    first_value(c, &format!("SHOW {what}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_the_sessions_own() {
    let (_dir, server) = home().await;
    let a = server.pg("home").await;
    let b = server.pg("home").await;
    a.batch_execute("SET datafusion.execution.batch_size = 100; SET TIME ZONE 'Europe/Berlin'; SET application_name = 'dash'")
        .await
        .unwrap();
    assert_eq!(show(&a, "datafusion.execution.batch_size").await, "100");
    assert_eq!(show(&b, "datafusion.execution.batch_size").await, "8192");
    assert_eq!(show(&a, "TimeZone").await, "Europe/Berlin");
    assert_eq!(show(&b, "TimeZone").await, "UTC");
    assert_eq!(show(&a, "application_name").await, "dash");
    // timestamptz values are shown in the session's zone.
    let shown = first_value(&a, "SELECT time FROM energy WHERE household = 'h1'").await;
    assert_eq!(shown, "2025-11-24 17:00:00+01");
    a.batch_execute("RESET TimeZone").await.unwrap();
    assert_eq!(show(&a, "TimeZone").await, "UTC");

    // DataFusion's boolean options take PostgreSQL's spellings of a boolean too.
    let pushdown = "datafusion.execution.parquet.pushdown_filters";
    for (value, shown) in [
        ("false", "false"),
        ("on", "true"),
        ("'off'", "false"),
        ("TRUE", "true"),
    ] {
        a.batch_execute(&format!("SET {pushdown} = {value}"))
            .await
            .unwrap();
        assert_eq!(show(&a, pushdown).await, shown, "SET ... = {value}");
    }
    let wrong = a
        .batch_execute(&format!("SET {pushdown} = 'maybe'"))
        .await
        .unwrap_err();
    assert_eq!(
        wrong.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE)
    );
    let wrong = a
        .batch_execute("SET datafusion.execution.batch_size = off")
        .await
        .unwrap_err();
    assert_eq!(
        wrong.code(),
        Some(&tokio_postgres::error::SqlState::INVALID_PARAMETER_VALUE)
    );
    assert_eq!(show(&a, "datafusion.execution.batch_size").await, "100");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_running_query_and_its_rows() {
    let (_dir, server) = home().await;
    let client = server.pg("home").await;
    // A long aggregate: stopped while it computes.
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let started = std::time::Instant::now();
    let e = client
        .simple_query("SELECT count(*) FROM generate_series(1, 10000000000) a")
        .await
        .unwrap_err();
    canceller.await.unwrap();
    assert_eq!(e.code().map(|c| c.code()), Some("57014"), "{e}");
    assert_eq!(
        e.as_db_error().map(|d| d.message()),
        Some("canceling statement due to user request")
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    // Rows already streaming: stopped too.
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let e = client
        .simple_query("SELECT a, a * 2 FROM generate_series(1, 10000000000) t(a)")
        .await
        .unwrap_err();
    canceller.await.unwrap();
    assert_eq!(e.code().map(|c| c.code()), Some("57014"), "{e}");
    // The connection is still usable.
    let row = client.query_one("SELECT 2::int4", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 2);
}

/// Runs `program` with `args`; panics with its output unless it succeeds.
fn run_client(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_and_sqlalchemy_connect_reflect_and_query() {
    let (_dir, server) = home().await;
    let script = manifest_dir().join("tests/integration/pg_python_clients.py");
    let port = server.pg.port().to_string();
    run_client("python3", &[script.to_str().unwrap(), "--port", &port]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgjdbc_metadata_prepared_statements_and_fetch_size() {
    let (_dir, server) = home().await;
    let source = manifest_dir().join("tests/integration/PgJdbcClient.java");
    let port = server.pg.port().to_string();
    run_client(
        "java",
        &[
            "-cp",
            "/usr/share/java/postgresql.jar",
            source.to_str().unwrap(),
            &server.pg.ip().to_string(),
            &port,
        ],
    );
}

/// Waits up to 10 s for `sql` in database `home` to answer `want` through psql (e.g. for the
/// persister to write files), then asserts that it does.
async fn psql_until(server: &Server, sql: &str, want: &str) {
    for _ in 0..100 {
        if psql(server, "home", &["-At", "-c", sql]).trim() == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(psql(server, "home", &["-At", "-c", sql]).trim(), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_explain_shows_each_scan_condition_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--flush-interval", "100ms"]);
    let lines = "energy,household=h1 power_w=230 1764000000\n\
                 energy,household=h2 power_w=90 1764000000\n\
                 energy,household=h1 power_w=240 1764000060\n";
    let url = server.url("/api/v2/write?bucket=home&precision=s");
    assert_eq!(post(&url, lines).await.0, 204);
    psql_until(&server, "SELECT count(*) FROM system.parquet_files", "1").await;
    let sql = "SELECT sum(power_w) FROM energy \
               WHERE household = 'h1' AND time >= '2025-11-24T16:00:30Z'";
    assert_eq!(psql(&server, "home", &["-At", "-c", sql]).trim(), "240");
    let plan = psql(&server, "home", &["-At", "-c", &format!("EXPLAIN {sql}")]);
    let predicate = plan
        .split("predicate=")
        .nth(1)
        .and_then(|p| p.split(", pruning_").next())
        .unwrap_or_else(|| panic!("no scan predicate in {plan}"));
    assert_eq!(
        predicate, "household@0 = h1 AND time@2 >= 1764000030000000",
        "{plan}"
    );
}

/// Grouping by tags and time buckets adds up runs of neighbouring rows: psql's `EXPLAIN` shows
/// `RunAggregateExec` and the aggregates that still add row by row, `EXPLAIN ANALYZE` the rows
/// hashed where runs are short, and the answers are the grouped values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_grouping_by_tags_and_buckets_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--flush-interval", "100ms"]);
    // Four households, two hours at 10 s; household k draws 100 k + (i mod 60) watts.
    let lines: String = (0..4)
        .flat_map(|k| {
            (0..720).map(move |i| {
                format!(
                    "energy,household=h{k} power_w={}i {}\n",
                    100 * k + i % 60,
                    1_764_000_000 + 10 * i
                )
            })
        })
        .collect();
    let url = server.url("/api/v2/write?bucket=home&precision=s");
    assert_eq!(post(&url, lines).await.0, 204);
    psql_until(
        &server,
        "SELECT sum(rows) FROM system.parquet_files",
        "2880",
    )
    .await;

    let hourly = "SELECT date_trunc('hour', time) AS h, household, avg(power_w), max(power_w), \
                  round(stddev(power_w), 3) FROM energy GROUP BY h, household ORDER BY h, household";
    let answer = psql(&server, "home", &["-At", "-c", hourly]);
    let rows: Vec<&str> = answer.lines().collect();
    assert_eq!(rows.len(), 8, "{answer}");
    assert_eq!(
        rows[0], "2025-11-24 16:00:00+00|h0|29.5|59|17.342",
        "{answer}"
    );
    assert_eq!(
        rows[7], "2025-11-24 17:00:00+00|h3|329.5|359|17.342",
        "{answer}"
    );
    let plan = psql(
        &server,
        "home",
        &["-At", "-c", &format!("EXPLAIN {hourly}")],
    );
    let runs = plan
        .lines()
        .find(|l| l.contains("RunAggregateExec"))
        .unwrap_or_else(|| panic!("no RunAggregateExec in {plan}"));
    assert!(runs.contains("stddev(energy.power_w) row by row"), "{runs}");
    assert_eq!(runs.matches("row by row").count(), 1, "{runs}");
    // The file alone is read: the tag grouped by stays a dictionary up to the runs.
    assert!(
        runs.contains("runs of dictionary keys [household]"),
        "{runs}"
    );

    // Minutes over all households: runs of 6 rows and no ordered key, so rows are hashed.
    let minutes = "SELECT date_trunc('minute', time) AS m, count(*) AS n FROM energy \
                   GROUP BY m ORDER BY m";
    let answer = psql(&server, "home", &["-At", "-c", minutes]);
    assert_eq!(answer.lines().count(), 120, "{answer}");
    assert!(answer.lines().all(|l| l.ends_with("|24")), "{answer}");
    let analyzed = psql(
        &server,
        "home",
        &["-At", "-c", &format!("EXPLAIN ANALYZE {minutes}")],
    );
    let runs = analyzed
        .lines()
        .find(|l| l.contains("RunAggregateExec"))
        .unwrap_or_else(|| panic!("no RunAggregateExec in {analyzed}"));
    assert!(runs.contains("runs merged by key"), "{runs}");
    let hashed = runs.split("rows_hashed=").nth(1).unwrap_or_default();
    assert!(
        hashed.starts_with(|c: char| c.is_ascii_digit() && c != '0'),
        "{runs}"
    );
}
