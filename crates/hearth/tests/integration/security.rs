//! Security by default, through the real binary: `--auth-token` on both protocols (SCRAM on
//! the wire, 401/28P01 otherwise, the token never in the log), TLS that fails closed, and limits
//! that keep a flood of connections or a slow client from starving others.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::server::{Server, http, post};

const TOKEN: &str = "s3cr3t-t0ken";

/// psql against `server` with `password` and extra connection options; returns (success,
/// stdout, stderr).
fn psql(server: &Server, password: &str, options: &str, sql: &str) -> (bool, String, String) {
    let conn = format!(
        "host={} port={} dbname=home user=analyst {options}",
        server.pg.ip(),
        server.pg.port()
    );
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", &conn, "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_token_guards_both_protocols_and_is_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--auth-token", TOKEN]);
    let write = server.url("/api/v3/write_lp?db=home&precision=s");
    let line = "energy,household=h1 power_w=230 1764000000";
    // Without, or with a wrong token: 401 in each API's shape, nothing written.
    let (status, body) = post(&write, line).await;
    assert_eq!(
        (status, body.as_str()),
        (401, "{\"error\":\"unauthorized access\"}")
    );
    let r = http()
        .post(server.url("/api/v2/write?bucket=home&precision=s"))
        .header("Authorization", "Token wrong")
        .body(line)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");
    // Health and ping stay open; metrics do not.
    assert_eq!(
        http()
            .get(server.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http()
            .get(server.url("/ping"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        http()
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Every way InfluxDB clients send it.
    for request in [
        http().post(&write).bearer_auth(TOKEN),
        http()
            .post(&write)
            .header("Authorization", format!("Token {TOKEN}")),
        http().post(&write).basic_auth("telegraf", Some(TOKEN)),
        http().post(server.url(&format!("/write?db=home&precision=s&u=x&p={TOKEN}"))),
    ] {
        let r = request.body(line).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 204);
    }
    let r = http()
        .get(server.url("/api/v3/query_sql?db=home&q=SELECT%20count(*)%20AS%20n%20FROM%20energy"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "[{\"n\":1}]");

    // PostgreSQL: SCRAM-SHA-256 with the token as password, any user name.
    let (ok, out, err) = psql(&server, TOKEN, "", "SELECT count(*) FROM energy");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "1");
    let (ok, _, err) = psql(&server, "wrong", "", "SELECT 1");
    assert!(!ok);
    assert!(
        err.contains("password authentication failed for user \"analyst\""),
        "{err}"
    );
    // The database is checked after authentication, so a stranger learns nothing of it.
    let conn = format!(
        "host={} port={} dbname=nope user=x",
        server.pg.ip(),
        server.pg.port()
    );
    let out = Command::new("psql")
        .args(["-X", &conn, "-c", "SELECT 1"])
        .env("PGPASSWORD", "wrong")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("password authentication failed"), "{err}");
    // tokio-postgres (SCRAM) too.
    let conn = format!(
        "host={} port={} user=app password={TOKEN} dbname=home",
        server.pg.ip(),
        server.pg.port()
    );
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client.query_one("SELECT 1::int4", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    let bad = format!(
        "host={} port={} user=app password=nope dbname=home",
        server.pg.ip(),
        server.pg.port()
    );
    let e = tokio_postgres::connect(&bad, tokio_postgres::NoTls)
        .await
        .err()
        .expect("a wrong password is refused");
    assert_eq!(e.code().map(|c| c.code()), Some("28P01"), "{e}");

    let log = server.log();
    assert!(log.contains("authentication failed"), "failures are logged");
    assert!(log.contains("without a valid token refused"));
    assert!(!log.contains(TOKEN), "the token appears in the log");
    assert!(
        !log.contains("wrong"),
        "a presented secret appears in the log"
    );
}

/// A self-signed certificate for 127.0.0.1 and localhost, in `dir`: (cert, key).
fn certificate(dir: &Path) -> (String, String) {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert.display().to_string(), key.display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_on_both_listeners_and_it_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    // A certificate that cannot be loaded stops the start with a clear message.
    let bad = dir.path().join("garbage.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("d1"))
        .args(["--http-addr", "127.0.0.1:0", "--pg-addr", "127.0.0.1:0"])
        .args(["--tls-cert", bad.to_str().unwrap(), "--tls-key", &key])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot read the TLS certificate"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("d1"))
        .args(["--tls-cert", &cert])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "--tls-cert without --tls-key must not start"
    );

    let server = Server::start(
        &dir.path().join("d2"),
        &[
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--auth-token",
            TOKEN,
        ],
    );
    // HTTPS works (curl, certificate checked against our CA); plain HTTP does not.
    let https = format!(
        "https://localhost:{}/api/v3/write_lp?db=home&precision=s",
        server.http.port()
    );
    let out = Command::new("curl")
        .args(["-sS", "--cacert", &cert, "--resolve"])
        .arg(format!("localhost:{}:127.0.0.1", server.http.port()))
        .args(["-o", "/dev/null", "-w", "%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {TOKEN}"))
        .args([
            "--data-binary",
            "energy,household=h1 power_w=1 1764000000",
            &https,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "204",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        http().get(server.url("/health")).send().await.is_err(),
        "plain HTTP must not be served next to HTTPS"
    );
    // PostgreSQL: sslmode=require connects (verify-full against our certificate too).
    let (ok, out, err) = psql(
        &server,
        TOKEN,
        "sslmode=require",
        "SELECT count(*) FROM energy",
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "1");
    let (ok, _, err) = psql(
        &server,
        TOKEN,
        &format!("sslmode=verify-full sslrootcert={cert} host=localhost"),
        "SELECT 1",
    );
    assert!(ok, "{err}");
    // A client that does not ask for TLS is refused rather than served in the clear.
    let (ok, _, err) = psql(&server, TOKEN, "sslmode=disable", "SELECT 1");
    assert!(!ok);
    assert!(err.contains("accepts TLS connections only"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_and_slow_clients_do_not_starve_others() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-connections", "4"]);
    let url = server.url("/api/v3/write_lp?db=home&precision=s");
    assert_eq!(post(&url, "m,t=a v=1 1764000000").await.0, 204);
    // Three PostgreSQL sockets that never log in hold slots...
    let idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(server.pg).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // ...one real client still gets in; the next one is refused with 53300.
    let client = server.pg("home").await;
    let conn = format!(
        "host={} port={} user=x dbname=home",
        server.pg.ip(),
        server.pg.port()
    );
    let e = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .err()
        .expect("over --max-connections");
    assert_eq!(e.code().map(|c| c.code()), Some("53300"), "{e}");
    // The idle sockets are closed when their login time is up, and their slots come back.
    let started = Instant::now();
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).unwrap_or(0);
        assert_eq!(n, 0, "an idle socket should be closed by the server");
    }
    assert!(started.elapsed() < Duration::from_secs(25));
    let again = server.pg("home").await;
    let row = again
        .query_one("SELECT count(*) FROM m", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    let row = client
        .query_one("SELECT count(*) FROM m", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);

    // HTTP: a client that sends its headers a byte at a time is cut off, and others are served
    // meanwhile.
    let mut slow = TcpStream::connect(server.http).unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let r = http().get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a slow client held its connection for {:?}",
        started.elapsed()
    );
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains("200 OK"), "{text}");
}
