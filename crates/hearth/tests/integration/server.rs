//! Starting and stopping the real server for a test.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running `hearth serve`.
pub(crate) struct Server {
    child: Option<Child>,
    pub(crate) http: SocketAddr,
    pub(crate) pg: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the binary on free ports with `data_dir` and extra flags, and waits until both
    /// listeners are bound.
    pub(crate) fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_env(data_dir, extra, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub(crate) fn start_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--http-addr", "127.0.0.1:0", "--pg-addr", "127.0.0.1:0"])
            .args(["--log-format", "json"])
            .args(extra)
            .envs(env.iter().copied())
            .env(
                "RUST_LOG",
                "info,deltalake=warn,deltalake_core=warn,buoyant_kernel=warn",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hearth binary starts");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    let msg = v["fields"]["message"].as_str().unwrap_or_default();
                    if let Some(addr) = v["fields"]["addr"].as_str() {
                        let _ = tx.send((msg.to_string(), addr.to_string()));
                    }
                }
                sink.lock().unwrap().push(line);
            }
        });
        let mut http = None;
        let mut pg = None;
        while http.is_none() || pg.is_none() {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok((msg, addr)) if msg == "HTTP listening" => http = Some(addr.parse().unwrap()),
                Ok((msg, addr)) if msg == "PostgreSQL listening" => {
                    pg = Some(addr.parse().unwrap())
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "server did not start; log:\n{}",
                        log.lock().unwrap().join("\n")
                    );
                }
            }
        }
        Server {
            child: Some(child),
            http: http.unwrap(),
            pg: pg.unwrap(),
            log,
        }
    }

    /// `http://addr{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// The text of `GET /metrics`.
    pub(crate) async fn metrics(&self) -> String {
        http()
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The log lines so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// A PostgreSQL connection to `db`.
    pub(crate) async fn pg(&self, db: &str) -> tokio_postgres::Client {
        let conn = format!(
            "host={} port={} user=test dbname={db}",
            self.pg.ip(),
            self.pg.port()
        );
        let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to {db}: {e}"));
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// `kill -9`: no flush, no WAL close.
    pub(crate) fn kill9(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM and wait for the exit.
    pub(crate) fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..600 {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let log = self.log();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "server did not stop within 60 s; log (last lines):\n{}",
            tail.join("\n")
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An HTTP client.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// POSTs a line-protocol body; returns the status and body text.
pub(crate) async fn post(url: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    let r = http().post(url).body(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// Writes the persistence fixture to the v3 endpoint `url` (precision seconds): two days, two
/// tables (`energy`, `climate`), an overwrite of one identity, a field that appears later.
pub(crate) async fn write_two_days(url: &str) {
    let body = "energy,household=h1,meter=m1 import_kwh=1.5,power_w=230 1764000000\n\
                energy,household=h2,meter=m1 import_kwh=2.5,power_w=100 1764000000\n\
                energy,household=h1,meter=m1 import_kwh=9.5 1764100000\n\
                climate,household=h1,room=kitchen temperature_c=21.5,heating=true 1764000060";
    assert_eq!(post(url, body).await.0, 204);
    let update = "energy,household=h2,meter=m1 power_w=120,export_kwh=0.25 1764000000";
    assert_eq!(post(url, update).await.0, 204);
}

/// Runs SQL over HTTP in `db`; returns the status and the JSON answer, whatever they are.
pub(crate) async fn sql(server: &Server, db: &str, q: &str) -> (u16, serde_json::Value) {
    let r = http()
        .post(server.url("/api/v3/query_sql"))
        .json(&serde_json::json!({"db": db, "q": q}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Runs SQL over HTTP and returns the JSON rows.
pub(crate) async fn query_json(server: &Server, db: &str, sql: &str) -> serde_json::Value {
    let r = http()
        .post(server.url("/api/v3/query_sql"))
        .json(&serde_json::json!({"db": db, "q": sql}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "query {sql}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// This crate's directory, read when the test runs (a test binary reused from another checkout
/// sharing the target directory must find this checkout's files).
pub(crate) fn manifest_dir() -> std::path::PathBuf {
    std::env::var("CARGO_MANIFEST_DIR")
        .expect("cargo sets CARGO_MANIFEST_DIR")
        .into()
}

/// Runs `python3 -c script args...` and returns what it printed; fails the test with its
/// stderr if it fails.
pub(crate) fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The first column of the rows `sql` answers, as text.
pub(crate) async fn strings(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The two columns of the rows `sql` answers.
pub(crate) async fn pairs<A, B>(client: &tokio_postgres::Client, sql: &str) -> Vec<(A, B)>
where
    A: for<'a> tokio_postgres::types::FromSql<'a>,
    B: for<'a> tokio_postgres::types::FromSql<'a>,
{
    client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}
