//! Bad input gets a clear error and harms nothing.

use std::io::Write;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::server::{Server, http, post, query_json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_get_line_numbers_and_good_lines_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--max-request-size", "4KiB"]);
    let body = "m,t=a v=1 1\nm,t=b v= 2\n# comment\nm,t=c v=\"s\" 3\nm,t=d v=4 4";
    let (status, text) = post(&server.url("/api/v3/write_lp?db=home&precision=s"), body).await;
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"], "partial write of line protocol occurred");
    assert_eq!(v["data"][0]["line_number"], 2);
    assert_eq!(v["data"][0]["original_line"], "m,t=b v= 2");
    assert_eq!(v["data"][1]["line_number"], 4);
    assert!(
        v["data"][1]["error_message"]
            .as_str()
            .unwrap()
            .contains("Existing column is float but attempted to add string"),
        "{text}"
    );
    let rows = query_json(&server, "home", "SELECT t FROM m ORDER BY t").await;
    assert_eq!(rows, serde_json::json!([{"t": "a"}, {"t": "d"}]));

    // accept_partial=false writes nothing.
    let (status, _) = post(
        &server.url("/api/v3/write_lp?db=home&precision=s&accept_partial=false"),
        "m,t=e v=5 5\nm,t=f v=oops 6",
    )
    .await;
    assert_eq!(status, 400);
    let rows = query_json(&server, "home", "SELECT count(*) AS n FROM m").await;
    assert_eq!(rows, serde_json::json!([{"n": 2}]));

    // v1 and v2 error shapes.
    let (status, text) = post(&server.url("/write?db=home"), "m,t=x v=").await;
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["error"].as_str().unwrap().starts_with("line 1: "),
        "{text}"
    );
    let (status, text) = post(&server.url("/api/v2/write?bucket=home"), "m,t=x v=").await;
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (v["code"].as_str(), v["line"].as_u64()),
        (Some("invalid"), Some(1))
    );

    // Parameters and bodies.
    assert_eq!(
        post(
            &server.url("/api/v3/write_lp?db=home&precision=weeks"),
            "m v=1"
        )
        .await
        .0,
        400
    );
    assert_eq!(post(&server.url("/api/v3/write_lp"), "m v=1").await.0, 400);
    assert_eq!(
        post(&server.url("/api/v3/write_lp?db=_bad"), "m v=1")
            .await
            .0,
        400
    );
    let big = "m,t=big v=1 1\n".repeat(400);
    assert_eq!(
        post(&server.url("/api/v3/write_lp?db=home"), big.clone())
            .await
            .0,
        413
    );
    let (status, _) = post(
        &server.url("/api/v3/write_lp?db=home"),
        vec![0xff, 0xfe, b'\n'],
    )
    .await;
    assert_eq!(status, 400);

    // gzip: accepted, and the limit applies after decompression.
    let gzip = |text: &str| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    let send_gzip = |body: Vec<u8>| {
        http()
            .post(server.url("/api/v3/write_lp?db=home&precision=s"))
            .header("Content-Encoding", "gzip")
            .body(body)
            .send()
    };
    assert_eq!(
        send_gzip(gzip("m,t=g v=7 7"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );
    assert_eq!(send_gzip(gzip(&big)).await.unwrap().status().as_u16(), 413);
    assert_eq!(
        send_gzip(b"not gzip".to_vec())
            .await
            .unwrap()
            .status()
            .as_u16(),
        400
    );

    // Bodies without a declared length (chunked) are held to the limit as they arrive, and
    // good ones are written as any other; a body cut off by the client writes nothing.
    let raw = |head: &'static str, body: String, close_write: bool| {
        let addr = server.http;
        async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(body.as_bytes()).await.unwrap();
            if close_write {
                s.shutdown().await.unwrap();
            }
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer).await;
            String::from_utf8_lossy(&answer).into_owned()
        }
    };
    let chunked = |text: &str| {
        let mut body: String = text
            .as_bytes()
            .chunks(1000)
            .map(|c| format!("{:x}\r\n{}\r\n", c.len(), String::from_utf8_lossy(c)))
            .collect();
        body.push_str("0\r\n\r\n");
        body
    };
    const CHUNKED: &str = "POST /api/v3/write_lp?db=home&precision=s HTTP/1.1\r\nHost: hearth\r\n\
                           Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let answer = raw(CHUNKED, chunked(&big), false).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let answer = raw(CHUNKED, chunked(&"m,t=h v=8 8\n".repeat(100)), false).await;
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    let answer = raw(
        "POST /api/v3/write_lp?db=home&precision=s HTTP/1.1\r\nHost: hearth\r\n\
         Content-Length: 100\r\n\r\n",
        "m,t=cut v=9 9\n".to_string(),
        true,
    )
    .await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );

    // Still healthy, and the good rows are all there.
    let health = http().get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.text().await.unwrap(), "OK");
    let rows = query_json(&server, "home", "SELECT t FROM m ORDER BY t").await;
    assert_eq!(
        rows,
        serde_json::json!([{"t": "a"}, {"t": "d"}, {"t": "g"}, {"t": "h"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_table_and_bad_sql_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    assert_eq!(
        post(&server.url("/api/v3/write_lp?db=home"), "m v=1")
            .await
            .0,
        204
    );

    // HTTP
    let get = |q: &str, db: &str| {
        http()
            .get(server.url("/api/v3/query_sql"))
            .query(&[("db", db), ("q", q)])
            .send()
    };
    let r = get("SELECT 1", "nope").await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"error":"database \"nope\" does not exist"}"#
    );
    let r = get("SELECT * FROM missing", "home").await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("missing"));
    let r = get("COPY (SELECT 1) TO '/tmp/hearth-escape.csv'", "home")
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(!std::path::Path::new("/tmp/hearth-escape.csv").exists());

    // PostgreSQL: SQLSTATEs, and the connection stays usable after each error.
    let pg = server.pg("home").await;
    let code = |e: tokio_postgres::Error| e.code().map(|c| c.code().to_string());
    let e = pg.simple_query("SELECT * FROM missing").await.unwrap_err();
    assert_eq!(code(e), Some("42P01".into()));
    let e = pg.simple_query("SELEC 1").await.unwrap_err();
    assert_eq!(code(e), Some("42601".into()));
    let e = pg.query("SELECT nope FROM m", &[]).await.unwrap_err();
    assert_eq!(code(e), Some("42703".into()));
    let e = pg
        .simple_query("COPY m TO '/tmp/hearth-escape.csv'")
        .await
        .unwrap_err();
    assert_eq!(code(e), Some("42501".into()));
    let e = pg
        .simple_query("CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'")
        .await
        .unwrap_err();
    // Refused before it runs: by the PostgreSQL parser (42601) or by the policy (42501).
    let c = code(e).unwrap();
    assert!(c == "42601" || c == "42501", "{c}");
    let rows = pg.query("SELECT v FROM m", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, f64>(0), 1.0);

    let conn = format!(
        "host=127.0.0.1 port={} user=test dbname=nope",
        server.pg.port()
    );
    let e = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .err()
        .unwrap();
    assert_eq!(code(e), Some("3D000".into()));
}
