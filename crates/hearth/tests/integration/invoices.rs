//! The monthly energy invoices of `sql/examples/invoices.sql`, end to end through the real
//! server: generated smart-home meter data with its dirt (gateway outages that deliver readings
//! late and re-send duplicates, offline gaps, a meter replaced mid-range whose counter restarts
//! at 0), the example file run by psql, households and tariffs written with INSERT, the job run
//! for October and November 2026 (the October one across the DST change), and the invoices and
//! export files compared with an independent computation in this test. A rerun after `kill -9`
//! gives identical invoices and files; readings arriving after a run change the rerun's
//! invoices, which replace the earlier ones.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Europe::Berlin;

use crate::clients::psql;
use crate::server::{Server, http};

/// One `energy` reading as written.
#[derive(Debug, Clone)]
struct Reading {
    household: String,
    meter: String,
    at_us: i64,
    import_kwh: Option<f64>,
}

/// A well-formed `energy` line of the generator: tags household and meter, float fields, a
/// nanosecond timestamp. `None` for anything else (other measurements, the malformed copies).
fn parse_energy(line: &str) -> Option<Reading> {
    let mut parts = line.split(' ');
    let (series, fields, ts) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let mut tags = series.strip_prefix("energy,")?.split(',');
    let household = tags.next()?.strip_prefix("household=")?.to_string();
    let meter = tags.next()?.strip_prefix("meter=")?.to_string();
    if tags.next().is_some() || household.is_empty() || meter.is_empty() {
        return None;
    }
    let mut import_kwh = None;
    for field in fields.split(',') {
        let (key, value) = field.split_once('=')?;
        let value: f64 = value.parse().ok()?;
        if !value.is_finite() || key.is_empty() {
            return None;
        }
        if key == "import_kwh" {
            import_kwh = Some(value);
        }
    }
    let ns: i64 = ts.parse().ok()?;
    Some(Reading {
        household,
        meter,
        at_us: ns / 1000,
        import_kwh,
    })
}

/// A tariff row as inserted.
struct Tariff {
    zone: &'static str,
    valid_from: DateTime<Utc>,
    valid_to: Option<DateTime<Utc>>,
    peak: f64,
    offpeak: f64,
    fee: f64,
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn tariffs() -> Vec<Tariff> {
    vec![
        Tariff {
            zone: "north",
            valid_from: utc("2026-01-01T00:00:00Z"),
            valid_to: Some(utc("2026-11-15T00:00:00Z")),
            peak: 0.3312,
            offpeak: 0.2417,
            fee: 11.9,
        },
        Tariff {
            zone: "north",
            valid_from: utc("2026-11-15T00:00:00Z"),
            valid_to: None,
            peak: 0.3575,
            offpeak: 0.2283,
            fee: 12.5,
        },
        Tariff {
            zone: "south",
            valid_from: utc("2026-01-01T00:00:00Z"),
            valid_to: None,
            peak: 0.3104,
            offpeak: 0.2211,
            fee: 9.95,
        },
    ]
}

/// Households and their zones: the generator's three, and one without any meter reading.
const HOUSEHOLDS: [(&str, &str); 4] = [
    ("h00001", "north"),
    ("h00002", "south"),
    ("h00003", "north"),
    ("h00099", "south"),
];

/// An invoice row: household, period start, period end, kWh peak, kWh off-peak, amount.
type Invoice = (String, DateTime<Utc>, DateTime<Utc>, f64, f64, Option<f64>);

/// The invoices of the month starting `(year, month)` in Berlin, computed from `readings` by
/// the rule of `shared/design/smart-home.md`, independently of Hearth.
fn expected(readings: &[Reading], year: i32, month: u32) -> Vec<Invoice> {
    let local_start = |y: i32, m: u32| Berlin.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap();
    let start = local_start(year, month).to_utc();
    let end = if month == 12 {
        local_start(year + 1, 1)
    } else {
        local_start(year, month + 1)
    }
    .to_utc();
    let tariffs = tariffs();
    let tariff_at = |zone: &str, at: DateTime<Utc>| {
        tariffs
            .iter()
            .find(|t| t.zone == zone && t.valid_from <= at && t.valid_to.is_none_or(|to| at < to))
    };
    // Per meter, one reading per time (duplicates merge), in time order, up to the end.
    let mut meters: BTreeMap<(String, String), BTreeMap<i64, f64>> = BTreeMap::new();
    for r in readings {
        if let Some(v) = r.import_kwh
            && r.at_us < end.timestamp_micros()
        {
            meters
                .entry((r.household.clone(), r.meter.clone()))
                .or_default()
                .insert(r.at_us, v);
        }
    }
    let mut totals: HashMap<String, (f64, f64, f64)> = HashMap::new();
    for ((household, _), series) in &meters {
        let zone = HOUSEHOLDS.iter().find(|h| h.0 == household).unwrap().1;
        let values: Vec<(&i64, &f64)> = series.iter().collect();
        for pair in values.windows(2) {
            let ((_, &v1), (&t2, &v2)) = (pair[0], pair[1]);
            let at = Utc.timestamp_micros(t2).unwrap();
            if at < start {
                continue;
            }
            let kwh = if v2 >= v1 { v2 - v1 } else { v2 };
            let local = at.with_timezone(&Berlin);
            let weekday = !matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
            let peak = weekday && (7..22).contains(&local.hour());
            let tariff = tariff_at(zone, at).expect("a tariff for every reading");
            let total = totals.entry(household.clone()).or_default();
            if peak {
                total.0 += kwh;
                total.2 += kwh * tariff.peak;
            } else {
                total.1 += kwh;
                total.2 += kwh * tariff.offpeak;
            }
        }
    }
    let mut out: Vec<Invoice> = HOUSEHOLDS
        .iter()
        .map(|(household, zone)| {
            let (peak, offpeak, eur) = totals.get(*household).copied().unwrap_or_default();
            let fee = tariff_at(zone, start).unwrap().fee;
            let amount = ((eur + fee) * 100.0).round() / 100.0;
            (
                household.to_string(),
                start,
                end,
                peak,
                offpeak,
                Some(amount),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

async fn invoices(client: &tokio_postgres::Client, period_start: DateTime<Utc>) -> Vec<Invoice> {
    client
        .query(
            "SELECT household, period_start, period_end, kwh_peak, kwh_offpeak, amount_eur \
             FROM invoices WHERE period_start = $1 ORDER BY household",
            &[&period_start],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect()
}

/// Cents, as an invoice states them.
fn cents(amount: Option<f64>) -> Option<i64> {
    amount.map(|a| (a * 100.0).round() as i64)
}

fn assert_invoices_match(got: &[Invoice], want: &[Invoice]) {
    assert_eq!(got.len(), want.len(), "{got:?}\n{want:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((&g.0, g.1, g.2), (&w.0, w.1, w.2), "{g:?} vs {w:?}");
        // Sums of the same terms in another order: equal to far below a watt-hour.
        assert!((g.3 - w.3).abs() < 1e-6, "peak kWh {g:?} vs {w:?}");
        assert!((g.4 - w.4).abs() < 1e-6, "off-peak kWh {g:?} vs {w:?}");
        assert_eq!(cents(g.5), cents(w.5), "amount {g:?} vs {w:?}");
        assert!(g.3 >= 0.0 && g.4 >= 0.0);
    }
}

async fn write_lines(server: &Server, lines: &[&str]) {
    for chunk in lines.chunks(5000) {
        let r = http()
            .post(server.url("/api/v2/write?bucket=home&precision=ns"))
            .body(chunk.join("\n"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
    }
}

/// `cron.run` of the invoice job as of 03:00 Berlin on the 1st of `(year, month)`.
async fn run_job(client: &tokio_postgres::Client, year: i32, month: u32) {
    let at = Berlin
        .with_ymd_and_hms(year, month, 1, 3, 0, 0)
        .unwrap()
        .to_utc();
    client
        .simple_query(&format!(
            "SELECT cron.run('monthly-invoices', TIMESTAMPTZ '{}')",
            at.to_rfc3339()
        ))
        .await
        .unwrap();
    let (status, message): (String, Option<String>) = client
        .query_one(
            "SELECT status, return_message FROM cron.job_run_details \
             WHERE scheduled_time = $1 ORDER BY runid DESC LIMIT 1",
            &[&at],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    let n = HOUSEHOLDS.len();
    assert_eq!(
        (status.as_str(), message.as_deref()),
        (
            "succeeded",
            Some(format!("INSERT 0 {n}; COPY {n}; COPY {n}").as_str())
        )
    );
}

/// The two export files of a month: (CSV text, Parquet bytes).
fn exports(dir: &Path, month: &str) -> (String, Vec<u8>) {
    let base = dir.join("objects/exports/invoices");
    let csv = std::fs::read_to_string(base.join(format!("{month}.csv"))).unwrap();
    let parquet = std::fs::read(base.join(format!("{month}.parquet"))).unwrap();
    (csv, parquet)
}

/// The CSV export says what the table says: header, then one line per invoice.
fn assert_csv_matches(csv: &str, invoices: &[Invoice]) {
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("household,period_start,period_end,kwh_peak,kwh_offpeak,amount_eur")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), invoices.len(), "{csv}");
    for (row, inv) in rows.iter().zip(invoices) {
        assert_eq!(row[0], inv.0);
        let start = DateTime::parse_from_str(row[1], "%Y-%m-%d %H:%M:%S%:z").unwrap();
        assert_eq!(start.to_utc(), inv.1, "{row:?}");
        let amount: f64 = row[5].parse().unwrap();
        assert_eq!(cents(Some(amount)), cents(inv.5), "{row:?}");
        let peak: f64 = row[3].parse().unwrap();
        assert_eq!(peak, inv.3, "{row:?}");
    }
}

/// The households and amounts of a Parquet export.
fn parquet_amounts(bytes: &[u8]) -> Vec<(String, f64)> {
    use datafusion::arrow::array::{AsArray, cast::as_primitive_array};
    use datafusion::arrow::datatypes::Float64Type;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes.to_vec()))
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let names = datafusion::arrow::compute::cast(
            batch.column_by_name("household").unwrap(),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let amounts =
            as_primitive_array::<Float64Type>(batch.column_by_name("amount_eur").unwrap());
        for i in 0..batch.num_rows() {
            out.push((
                names.as_string::<i32>().value(i).to_string(),
                amounts.value(i),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_invoices_match_an_independent_computation_and_reruns_are_identical() {
    // Three households (one with a second meter), 20 October to 1 December 2026 at 5-minute
    // readings, with all of the generator's dirt.
    let config = hearth_bench::generate::GenerateConfig {
        use_case: hearth_bench::generate::UseCase::SmartHome,
        scale: 3,
        start_ns: utc("2026-10-20T00:00:00Z").timestamp_nanos_opt().unwrap(),
        duration_ns: 43 * 86_400 * 1_000_000_000,
        interval_ns: 300 * 1_000_000_000,
        seed: 3,
        dirty: true,
    };
    let mut generated = Vec::new();
    let summary = hearth_bench::generate::generate(&config, &mut generated).unwrap();
    let text = String::from_utf8(generated).unwrap();
    let mut lines: Vec<&str> = Vec::new();
    let mut readings: Vec<Reading> = Vec::new();
    // And a sub-meter whose readings sit on the rule's edges: the first instant of November in
    // Berlin (a Sunday), 07:00 and 22:00 on a Monday, a counter restarting at a value above 0,
    // and a byte-identical repeat.
    let edges: Vec<String> = [
        ("2026-10-31T22:59:59Z", 90.0),
        ("2026-10-31T23:00:00Z", 95.0),
        ("2026-11-09T06:00:00Z", 100.0),
        ("2026-11-09T20:59:59Z", 150.0),
        ("2026-11-09T21:00:00Z", 3.0),
        ("2026-11-10T05:59:59Z", 10.0),
        ("2026-11-10T05:59:59Z", 10.0),
    ]
    .iter()
    .map(|(at, v)| {
        let ns = utc(at).timestamp_nanos_opt().unwrap();
        format!("energy,household=h00003,meter=m9 import_kwh={v:?},power_w=0.0 {ns}")
    })
    .collect();
    for line in text.lines().chain(edges.iter().map(String::as_str)) {
        if let Some(r) = parse_energy(line) {
            lines.push(line);
            readings.push(r);
        }
    }
    // The dirt this test is about is there: a counter that went down, readings out of order,
    // byte-identical repeats, and gaps far longer than the 5-minute cadence.
    let mut seen = std::collections::HashSet::new();
    assert!(lines.iter().any(|l| !seen.insert(*l)), "no duplicates");
    let mut by_meter: BTreeMap<(&str, &str), Vec<(i64, f64)>> = BTreeMap::new();
    // Late: older than a reading written before it (a gateway's backlog after an outage).
    let (mut late, mut newest) = (0, i64::MIN);
    for r in &readings {
        let key = (r.household.as_str(), r.meter.as_str());
        if r.at_us < newest.saturating_sub(3_600_000_000) {
            late += 1;
        }
        newest = newest.max(r.at_us);
        by_meter
            .entry(key)
            .or_default()
            .push((r.at_us, r.import_kwh.unwrap()));
    }
    assert!(late > 0, "no late readings");
    let (mut resets, mut gaps) = (0, 0);
    for series in by_meter.values_mut() {
        series.sort_by_key(|p| p.0);
        series.dedup_by_key(|p| p.0);
        resets += series.windows(2).filter(|w| w[1].1 < w[0].1).count();
        gaps += series
            .windows(2)
            .filter(|w| w[1].0 - w[0].0 > 3_600_000_000)
            .count();
    }
    assert!(resets > 0 && gaps > 0, "resets {resets}, gaps {gaps}");
    assert!(by_meter.len() > 3, "a household with two meters");
    assert!(summary.points as usize > lines.len());

    // Some November readings of h00001 arrive only after the first November run.
    let held_back = |r: &Reading| {
        r.household == "h00001"
            && (utc("2026-11-20T00:00:00Z").timestamp_micros()
                ..utc("2026-11-21T12:00:00Z").timestamp_micros())
                .contains(&r.at_us)
    };
    type Written<'a> = Vec<(&'a str, &'a Reading)>;
    let (now_lines, later_lines): (Written, Written) = lines
        .iter()
        .copied()
        .zip(&readings)
        .partition(|(_, r)| !held_back(r));
    assert!(!later_lines.is_empty());
    let first_readings: Vec<Reading> = now_lines.iter().map(|(_, r)| (*r).clone()).collect();

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    write_lines(
        &server,
        &now_lines.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
    )
    .await;

    // The example file, as a user runs it.
    let example = crate::server::manifest_dir().join("../../sql/examples/invoices.sql");
    let out = psql(&server, "home", &["-f", example.to_str().unwrap()]);
    assert_eq!(out.matches("CREATE TABLE").count(), 3, "{out}");
    let client = server.pg("home").await;
    for (household, zone) in HOUSEHOLDS {
        client
            .execute(
                "INSERT INTO households VALUES ($1, $2, $3)",
                &[&household, &zone, &format!("Home {household}")],
            )
            .await
            .unwrap();
    }
    for t in tariffs() {
        client
            .execute(
                "INSERT INTO tariffs VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &t.zone,
                    &t.valid_from,
                    &t.valid_to,
                    &t.peak,
                    &t.offpeak,
                    &t.fee,
                ],
            )
            .await
            .unwrap();
    }
    let job = client
        .query_one(
            "SELECT schedule, timezone, database, next_scheduled_time FROM cron.job \
             WHERE jobname = 'monthly-invoices'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(job.get::<_, String>(0), "0 3 1 * *");
    assert_eq!(job.get::<_, String>(1), "Europe/Berlin");
    assert_eq!(job.get::<_, String>(2), "home");
    let next = job.get::<_, DateTime<Utc>>(3).with_timezone(&Berlin);
    assert_eq!(
        (next.day(), next.hour(), next.minute()),
        (1, 3, 0),
        "{next}"
    );

    // October (25 hours on the 25th, DST ends) and November, run late, as after downtime.
    run_job(&client, 2026, 11).await;
    run_job(&client, 2026, 12).await;
    let october = Berlin
        .with_ymd_and_hms(2026, 10, 1, 0, 0, 0)
        .unwrap()
        .to_utc();
    let november = Berlin
        .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .unwrap()
        .to_utc();
    assert_eq!(november, utc("2026-10-31T23:00:00Z"));
    let want_october = expected(&first_readings, 2026, 10);
    let want_november = expected(&first_readings, 2026, 11);
    let got_october = invoices(&client, october).await;
    assert_invoices_match(&got_october, &want_october);
    let got_november = invoices(&client, november).await;
    assert_invoices_match(&got_november, &want_november);
    // The household without readings pays the fee alone; the others used energy.
    assert_eq!(got_november[3].5, Some(9.95));
    assert!(got_november[..3].iter().all(|i| i.3 > 0.0 && i.4 > 0.0));

    let (csv, parquet) = exports(dir.path(), "2026-11");
    assert_csv_matches(&csv, &got_november);
    let amounts = parquet_amounts(&parquet);
    assert_eq!(amounts.len(), HOUSEHOLDS.len());
    for ((household, amount), inv) in amounts.iter().zip(&got_november) {
        assert_eq!((household, Some(*amount)), (&inv.0, inv.5));
    }
    assert_csv_matches(&exports(dir.path(), "2026-10").0, &got_october);

    // kill -9, restart, run November again: the same invoices and byte-identical files.
    drop(client);
    server.kill9();
    let server = Server::start(dir.path(), &[]);
    let client = server.pg("home").await;
    run_job(&client, 2026, 12).await;
    assert_eq!(invoices(&client, november).await, got_november);
    assert_eq!(
        exports(dir.path(), "2026-11"),
        (csv.clone(), parquet.clone())
    );

    // Late readings, then a rerun: the month's invoices are recomputed and replace the earlier
    // ones (one row per household and month), October's stay.
    write_lines(
        &server,
        &later_lines.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
    )
    .await;
    run_job(&client, 2026, 12).await;
    let all: Vec<Reading> = readings.clone();
    let recomputed = invoices(&client, november).await;
    assert_invoices_match(&recomputed, &expected(&all, 2026, 11));
    assert_ne!(
        recomputed, got_november,
        "the late readings changed the invoice"
    );
    assert_eq!(invoices(&client, october).await, got_october);
    let count: i64 = client
        .query_one("SELECT count(*) FROM invoices", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2 * HOUSEHOLDS.len() as i64);
    assert_ne!(exports(dir.path(), "2026-11").0, csv);

    // Outside Hearth: once persisted (and compacted, should the reruns have left several
    // files), the Delta table `invoices` holds each invoice once, its latest version, for any
    // Delta reader (the `deltalake` Python package here).
    let mut all_invoices = invoices(&client, october).await;
    all_invoices.extend(recomputed);
    drop(client);
    assert!(server.stop().success());
    let server = Server::start(
        dir.path(),
        &["--compaction-interval", "1s", "--compaction-min-files", "2"],
    );
    let client = server.pg("home").await;
    let mut files = 0;
    for _ in 0..600 {
        files = client
            .query_one(
                "SELECT count(*) FROM system.parquet_files WHERE table_name = 'invoices'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if files == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(files, 1, "the invoices' files were not compacted into one");
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
rows = DeltaTable(sys.argv[1]).to_pyarrow_table().to_pylist()
print(json.dumps(sorted((r["household"], r["period_start"].isoformat(), r["amount_eur"]) for r in rows)))
sys.stdout.flush()
os._exit(0)
"#;
    let table = dir.path().join("objects/home/invoices");
    let out = crate::server::python(script, &[table.to_str().unwrap()]);
    let read: Vec<(String, String, Option<f64>)> = serde_json::from_str(&out).unwrap();
    let mut want: Vec<(String, String, Option<f64>)> = all_invoices
        .iter()
        .map(|i| (i.0.clone(), i.1.to_rfc3339(), i.5))
        .collect();
    want.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let read: Vec<(String, String, Option<f64>)> = read
        .into_iter()
        .map(|(h, at, amount)| {
            let at = DateTime::parse_from_rfc3339(&at)
                .unwrap()
                .to_utc()
                .to_rfc3339();
            (h, at, amount)
        })
        .collect();
    assert_eq!(read, want);
}
