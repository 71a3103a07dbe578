//! The latest-row cache against scans of the same table.

use hearth_storage::Storage;
use hearth_storage::flush::FlushReason;

use super::{config, physical_plan, table, write_lines, xorshift};
use crate::QueryEngine;

const LATEST: &str = "SELECT DISTINCT ON (home, room) home, room, temp, hum, time FROM climate \
                      ORDER BY home, room, time DESC";
/// The same rows asked so that the latest-row cache cannot answer.
const LATEST_BY_SCAN: &str = "SELECT home, room, temp, hum, time FROM (SELECT *, row_number() \
                              OVER (PARTITION BY home, room ORDER BY time DESC) AS n FROM climate) \
                              WHERE n = 1 ORDER BY home, room";

/// The latest temperature and humidity per series since `since` (seconds); `by_scan` adds a
/// `count(*)`, which keeps the latest-row cache from answering.
fn last_values(since: i64, by_scan: bool) -> String {
    let extra = if by_scan { ", count(*) AS n" } else { "" };
    format!(
        "SELECT home, room, t, h FROM (SELECT home, room, last(temp, time) AS t, \
         last(hum, time) AS h{extra} FROM climate WHERE time >= to_timestamp({since}) \
         GROUP BY home, room) ORDER BY home, room"
    )
}

/// The latest row of each home meeting `condition`; `by_scan` asks it so that the cache cannot
/// answer (ties at the latest time go to the first room, as the cache breaks them).
fn latest_per_home(condition: &str, by_scan: bool) -> String {
    if by_scan {
        format!(
            "SELECT home, room, temp, hum, time FROM (SELECT *, row_number() OVER \
             (PARTITION BY home ORDER BY time DESC, room) AS n FROM climate {condition}) \
             WHERE n = 1 ORDER BY home"
        )
    } else {
        format!(
            "SELECT DISTINCT ON (home) home, room, temp, hum, time FROM climate {condition} \
             ORDER BY home, time DESC"
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_rows_from_the_cache_always_equal_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let mut storage = Storage::open(config(dir.path())).await.unwrap();
    let mut engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
    // A fixed-seed stream of writes: in order, late, repeated and overwriting points of 12
    // series, fields written separately; flushes, restarts and deletes in between.
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15_u64);
    let rooms = ["kitchen", "bath", "hall"];
    let mut clock = 1_714_557_600_i64;
    for round in 0..160 {
        let mut body = String::new();
        for _ in 0..1 + next(8) {
            let home = next(4);
            let room = rooms[next(3) as usize];
            // Mostly forward in time, sometimes late, sometimes the same second again.
            let t = match next(10) {
                0..=5 => {
                    clock += next(30) as i64;
                    clock
                }
                6 | 7 => clock - next(3600) as i64,
                _ => clock,
            };
            let fields = match next(3) {
                0 => format!("temp={}", next(300) as f64 / 10.0),
                1 => format!("hum={}i", next(100)),
                _ => format!("temp={},hum={}i", next(300) as f64 / 10.0, next(100)),
            };
            body.push_str(&format!("climate,home=h{home},room={room} {fields} {t}\n"));
        }
        write_lines(&storage, &body).await;
        match round % 40 {
            13 => {
                storage.flush(FlushReason::Age).await.unwrap();
            }
            27 => {
                let home = next(4);
                engine
                    .execute_command(
                        "home",
                        &format!(
                            "DELETE FROM climate WHERE home = 'h{home}' \
                             AND time > to_timestamp({})",
                            clock - 600
                        ),
                    )
                    .await
                    .unwrap()
                    .unwrap();
            }
            39 => {
                drop(engine);
                drop(storage);
                storage = Storage::open(config(dir.path())).await.unwrap();
                engine = QueryEngine::new(storage.clone(), 1 << 28).unwrap();
            }
            _ => {}
        }
        assert_eq!(
            table(&engine, LATEST).await,
            table(&engine, LATEST_BY_SCAN).await,
            "round {round}"
        );
        let since = clock - 1800;
        assert_eq!(
            table(&engine, &last_values(since, false)).await,
            table(&engine, &last_values(since, true)).await,
            "round {round}"
        );
        // On some of the tags, with and without conditions on whole series.
        for condition in [
            String::new(),
            format!("WHERE room <> 'hall' AND time >= to_timestamp({since})"),
        ] {
            assert_eq!(
                table(&engine, &latest_per_home(&condition, false)).await,
                table(&engine, &latest_per_home(&condition, true)).await,
                "round {round}, {condition}"
            );
        }
    }
    let plan = physical_plan(&engine, &last_values(clock, false)).await;
    assert!(plan.contains("__last_time"), "{plan}");
    let scan = physical_plan(&engine, &last_values(clock, true)).await;
    assert!(!scan.contains("__last_time"), "{scan}");
    // The cache answered: no merging aggregate, no Parquet scan in the plan.
    let plan = physical_plan(&engine, LATEST).await;
    assert!(!plan.contains("last_value"), "{plan}");
    assert!(
        !plan.contains("ParquetSource") && !plan.contains("file_groups"),
        "{plan}"
    );
    let scan = physical_plan(&engine, LATEST_BY_SCAN).await;
    assert!(scan.contains("last_value"), "{scan}");
    // `DISTINCT ON` every tag needs no aggregate over the cached rows (one per series); on some
    // of the tags the scan of the cache keeps the first row of each group itself (no
    // `first_value`, no window function), and the answer is still the scan's, also with more
    // sort keys after the time.
    assert!(!plan.contains("first_value"), "{plan}");
    let plan = physical_plan(&engine, &latest_per_home("WHERE room <> 'hall'", false)).await;
    assert!(
        !plan.contains("row_number")
            && !plan.contains("first_value")
            && !plan.contains("FilterExec")
            && !plan.contains("file_groups"),
        "{plan}"
    );
    let per_home = "SELECT DISTINCT ON (home) home, room, temp, time FROM climate \
                    ORDER BY home, time DESC, room";
    let per_home_by_scan = "SELECT home, room, temp, time FROM (SELECT *, row_number() OVER \
                            (PARTITION BY home ORDER BY time DESC, room) AS n FROM climate) \
                            WHERE n = 1 ORDER BY home";
    assert_eq!(
        table(&engine, per_home).await,
        table(&engine, per_home_by_scan).await
    );
    let plan = physical_plan(&engine, per_home).await;
    assert!(
        !plan.contains("row_number")
            && !plan.contains("first_value")
            && !plan.contains("file_groups"),
        "{plan}"
    );
}
