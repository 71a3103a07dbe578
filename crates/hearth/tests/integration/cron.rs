//! Scheduled SQL through the real server: `cron.schedule` over both protocols, runs whose
//! `now()` is their scheduled time, catch-up of the runs missed during a `kill -9`, retries of a
//! failing job, `cron.run` exports into the object store that come out identical when run
//! again, and the refusals.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::server::{Server, http, sql};

const T0: i64 = 1_764_547_200; // 2025-12-01 00:00:00 UTC

fn start(dir: &Path) -> Server {
    Server::start(dir, &["--cron-retries", "1", "--cron-retry-backoff", "1s"])
}

async fn write(server: &Server, body: &str) {
    let r = http()
        .post(server.url("/api/v3/write_lp?db=home&precision=s"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
}

/// (scheduled time, attempt, status, sqlstate, return message) of job `jobid`'s runs, in run
/// order.
type Run = (DateTime<Utc>, i32, String, Option<String>, Option<String>);

async fn runs(client: &tokio_postgres::Client, jobid: i64) -> Vec<Run> {
    client
        .query(
            "SELECT scheduled_time, attempt, status, sqlstate, return_message \
             FROM cron.job_run_details WHERE jobid = $1 ORDER BY runid",
            &[&jobid],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

/// Waits until `done` holds of job `jobid`'s runs (at most 60 s).
async fn wait_for_runs(
    client: &tokio_postgres::Client,
    jobid: i64,
    done: impl Fn(&[Run]) -> bool,
) -> Vec<Run> {
    for _ in 0..600 {
        let r = runs(client, jobid).await;
        if done(&r) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "job {jobid}: runs never got there: {:?}",
        runs(client, jobid).await
    );
}

pub(crate) fn code(e: tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_as_of_their_scheduled_time_catch_up_after_kill_9_and_retry() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    write(
        &server,
        &format!("energy,household=h1 kwh=1.5 {T0}\nticks,src=seed n=0i {T0}\n"),
    )
    .await;
    let client = server.pg("home").await;

    // Extended protocol (Parse/Describe/Execute): the job id comes back as a bigint named as
    // PostgreSQL names the function's result.
    let row = client
        .query_one(
            "SELECT cron.schedule('tick', '1 seconds', \
             $$INSERT INTO ticks (src, n, time) SELECT 'job', count(*), now() FROM energy$$)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.columns()[0].name(), "schedule");
    let tick: i64 = row.get(0);
    // Simple protocol; a failing job, retried once after 1 s.
    let failing: i64 = match &client
        .simple_query("SELECT cron.schedule('broken', '3 seconds', 'SELECT * FROM missing')")
        .await
        .unwrap()[1]
    {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).unwrap().parse().unwrap(),
        other => panic!("{other:?}"),
    };
    assert_ne!(tick, failing);
    let job = client
        .query_one(
            "SELECT jobname, schedule, command, database, active, timezone FROM cron.job \
             WHERE jobid = $1",
            &[&tick],
        )
        .await
        .unwrap();
    assert_eq!(job.get::<_, String>(0), "tick");
    assert_eq!(job.get::<_, String>(1), "1 seconds");
    assert!(job.get::<_, String>(2).starts_with("INSERT INTO ticks"));
    assert_eq!(job.get::<_, String>(3), "home");
    assert!(job.get::<_, bool>(4));
    assert_eq!(job.get::<_, String>(5), "UTC");

    let before = wait_for_runs(&client, tick, |r| r.len() >= 3).await;
    server.kill9();
    let killed_at = Utc::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let server = start(dir.path());
    let client = server.pg("home").await;
    let after = wait_for_runs(&client, tick, |r| {
        r.iter()
            .any(|(at, ..)| *at > killed_at + chrono::Duration::seconds(5))
    })
    .await;
    assert!(after.len() >= before.len() + 5, "{after:?}");

    // Every second from the first run on ran exactly once, in order (a run cut short by the
    // kill is retried under its own time); each wrote the row of its scheduled time.
    let finished: Vec<&Run> = after.iter().filter(|r| r.2 != "running").collect();
    let mut succeeded: Vec<DateTime<Utc>> = finished
        .iter()
        .filter(|r| r.2 == "succeeded")
        .map(|r| r.0)
        .collect();
    let in_order = succeeded.windows(2).all(|w| w[0] < w[1]);
    assert!(in_order, "{after:?}");
    succeeded.dedup();
    for w in succeeded.windows(2) {
        assert_eq!(w[1] - w[0], chrono::Duration::seconds(1), "{after:?}");
    }
    for r in &finished {
        if r.2 == "failed" {
            assert_eq!(
                r.3.as_deref(),
                Some("57P01"),
                "only the kill fails a tick: {r:?}"
            );
        } else {
            assert_eq!(r.4.as_deref(), Some("INSERT 0 1"), "{r:?}");
        }
    }
    let rows = client
        .query(
            "SELECT time, n FROM ticks WHERE src = 'job' ORDER BY time",
            &[],
        )
        .await
        .unwrap();
    let times: Vec<DateTime<Utc>> = rows.iter().map(|r| r.get(0)).collect();
    for t in &succeeded {
        assert!(times.contains(t), "no row for the run at {t}: {times:?}");
    }
    for (t, r) in times.iter().zip(&rows) {
        assert_eq!(
            t.timestamp_subsec_micros(),
            0,
            "now() is the scheduled second"
        );
        assert_eq!(r.get::<_, i64>(1), 1);
    }

    // The failing job: a 42P01 attempt and its retry, also 42P01, for the same scheduled time.
    // A retry the kill cut short is recorded as 57P01, so the pair is looked for among all.
    let retried = |r: &[Run]| -> Option<(Run, Run)> {
        let failed = |x: &&Run| x.2 == "failed" && x.3.as_deref() == Some("42P01");
        r.iter().filter(failed).find_map(|first| {
            r.iter()
                .filter(failed)
                .find(|x| x.0 == first.0 && x.1 == first.1 + 1)
                .map(|retry| (first.clone(), retry.clone()))
        })
    };
    let broken = wait_for_runs(&client, failing, |r| retried(r).is_some()).await;
    let (first, retry) = retried(&broken).unwrap();
    assert_eq!(first.1, 1, "attempts 1 and 2 of one run: {broken:?}");
    assert!(retry.4.as_deref().unwrap().contains("missing"), "{retry:?}");
    for r in broken.iter().filter(|r| r.2 == "failed") {
        assert!(
            matches!(r.3.as_deref(), Some("42P01" | "57P01")),
            "the job fails for its missing table or the kill only: {r:?}"
        );
        assert!(r.1 <= 2, "one retry at most (--cron-retries 1): {r:?}");
    }

    assert!(
        client
            .query_one("SELECT cron.unschedule('tick')", &[])
            .await
            .unwrap()
            .get::<_, bool>(0)
    );
    client
        .simple_query(&format!("SELECT cron.unschedule({failing})"))
        .await
        .unwrap();
    let left: i64 = client
        .query_one("SELECT count(*) FROM cron.job", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_runs_export_into_the_object_store_identically_and_bad_calls_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let mut lines = String::new();
    for i in 0..48 {
        // Hourly readings across the month boundary 2025-11-30 / 2025-12-01 (UTC).
        let t = T0 - 24 * 3600 + i * 3600;
        lines.push_str(&format!("energy,household=h{} kwh={}.25 {t}\n", i % 3, i));
    }
    write(&server, &lines).await;
    let client = server.pg("home").await;
    client
        .batch_execute(
            "SELECT cron.schedule('export', '0 3 1 * *', $$
               COPY (SELECT household, sum(kwh) AS kwh, count(*) AS readings FROM energy
                     WHERE time >= date_trunc('month', now() - INTERVAL '1 day')
                       AND time < date_trunc('month', now())
                     GROUP BY household ORDER BY household)
                 TO 'exports/monthly.csv' (FORMAT csv, HEADER);
               COPY (SELECT household, time, kwh FROM energy
                     WHERE time < date_trunc('month', now()) ORDER BY household, time)
                 TO 'exports/monthly.parquet' (FORMAT parquet)
             $$, timezone => 'Europe/Berlin')",
        )
        .await
        .unwrap();
    let run = |at: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(&format!("SELECT cron.run('export', '{at}')"), &[])
                .await
                .map(|r| r.get::<_, i64>(0))
        }
    };
    let objects = dir.path().join("objects").join("exports");
    run("2025-12-01 03:00:00+01").await.unwrap();
    let csv = std::fs::read_to_string(objects.join("monthly.csv")).unwrap();
    // November's 24 readings (hours 0..23 of the 30th), by household.
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("household,kwh,readings"));
    let got: Vec<(String, f64, i64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, f64, i64)> = (0..3)
        .map(|h| {
            let kwh = (0..24)
                .filter(|i| i % 3 == h)
                .map(|i| i as f64 + 0.25)
                .sum();
            (format!("h{h}"), kwh, 8)
        })
        .collect();
    assert_eq!(got, want, "{csv}");
    let parquet = std::fs::read(objects.join("monthly.parquet")).unwrap();
    assert_eq!(&parquet[..4], b"PAR1");
    // The same scheduled time again, later, with more (December) data: the same files.
    write(
        &server,
        &format!("energy,household=h9 kwh=7 {}\n", T0 + 50 * 3600),
    )
    .await;
    let second = run("2025-12-01T02:00:00Z").await.unwrap();
    assert_eq!(
        std::fs::read_to_string(objects.join("monthly.csv")).unwrap(),
        csv
    );
    assert_eq!(
        std::fs::read(objects.join("monthly.parquet")).unwrap(),
        parquet
    );
    let manual = client
        .query_one(
            "SELECT status, return_message, rows, manual, scheduled_time FROM \
             cron.job_run_details WHERE runid = $1",
            &[&second],
        )
        .await
        .unwrap();
    assert_eq!(manual.get::<_, String>(0), "succeeded");
    assert_eq!(manual.get::<_, String>(1), "COPY 3; COPY 24");
    assert_eq!(manual.get::<_, i64>(2), 24);
    assert!(manual.get::<_, bool>(3));
    assert_eq!(
        manual.get::<_, DateTime<Utc>>(4).to_rfc3339(),
        "2025-12-01T02:00:00+00:00"
    );
    // Manual runs leave the schedule's ledger alone.
    let last: Option<DateTime<Utc>> = client
        .query_one("SELECT last_scheduled_time FROM cron.job", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(last, None);

    // Exports go only under the object store, from a job and from a client alike.
    client
        .batch_execute(
            "SELECT cron.schedule('escape', '@daily', \
             $$COPY (SELECT 1) TO '/tmp/hearth-cron-escape.csv' (FORMAT csv)$$)",
        )
        .await
        .unwrap();
    let e = client
        .query_one("SELECT cron.run('escape', '2025-12-02 00:00:00+00')", &[])
        .await
        .unwrap_err();
    assert_eq!(code(e), "42501");
    assert!(!Path::new("/tmp/hearth-cron-escape.csv").exists());
    for target in ["../escape.csv", "home/x.csv", "_cron/state.json"] {
        let e = client
            .simple_query(&format!("COPY (SELECT 1) TO '{target}' (FORMAT csv)"))
            .await
            .unwrap_err();
        assert_eq!(code(e), "42501", "{target}");
    }
    let n = client
        .simple_query("COPY (SELECT household FROM energy) TO 'exports/all.csv' (FORMAT csv)")
        .await
        .unwrap();
    assert!(matches!(
        n.last(),
        Some(tokio_postgres::SimpleQueryMessage::CommandComplete(49))
    ));
    assert_eq!(
        std::fs::read_to_string(objects.join("all.csv"))
            .unwrap()
            .lines()
            .count(),
        49
    );

    // Refusals with PostgreSQL's codes; the connection goes on.
    for (sql, want) in [
        (
            "SELECT cron.schedule('x', '61 * * * *', 'SELECT 1')",
            "22023",
        ),
        (
            "SELECT cron.schedule('x', '* * * * *', 'SELECT 1', timezone => 'Mars/Base')",
            "22023",
        ),
        ("SELECT cron.unschedule('nope')", "42704"),
        ("SELECT cron.unschedule(999)", "42704"),
        ("SELECT cron.nothing(1)", "42883"),
        (
            "SELECT cron.schedule_in_database('x', '@daily', 'SELECT 1', 'nodb')",
            "3D000",
        ),
        ("SELECT cron.run('export', 'yesterday')", "22007"),
    ] {
        let e = client.simple_query(sql).await.unwrap_err();
        assert_eq!(code(e), want, "{sql}");
    }
    // Over HTTP too: the call answers its row as a query does.
    let (status, body) = sql(
        &server,
        "home",
        "SELECT cron.schedule('http', '@hourly', 'SELECT 1')",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!([{"schedule": 3}]));
    let (status, body) = sql(&server, "home", "SELECT cron.unschedule('http')").await;
    assert_eq!(
        (status, body),
        (200, serde_json::json!([{"unschedule": true}]))
    );
    let (status, body) = sql(&server, "home", "SELECT cron.unschedule('http')").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("could not find valid entry"),
        "{body}"
    );

    // A job stays after a restart, with its runs.
    server.stop();
    let server = start(dir.path());
    let client = server.pg("home").await;
    let jobs: Vec<String> = client
        .query("SELECT jobname FROM cron.job ORDER BY jobid", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(jobs, ["export", "escape"]);
    let runs: i64 = client
        .query_one("SELECT count(*) FROM cron.job_run_details", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(runs, 3);
    server.stop();
}
