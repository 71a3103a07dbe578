//! HTTP authentication with `--auth-token`: `Authorization: Bearer TOKEN` or `Token TOKEN`
//! (InfluxDB 2 and 3 clients, Telegraf), `Basic` with the token as password, or InfluxDB 1's
//! `p=TOKEN` query parameter. `/health` and `/ping` stay open (load balancers and InfluxDB
//! clients probe them); everything else answers 401 without a valid token. Only a SHA-256
//! digest of the token is kept, compared in constant time; a failure is logged with the client's
//! address and path, never with what it sent.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use ring::digest::{SHA256, digest};

use super::HttpState;
use super::error::{ApiError, Flavor};

/// What a request's token must hash to.
#[derive(Debug, Clone)]
pub struct TokenCheck {
    digest: [u8; 32],
}

impl TokenCheck {
    /// The check for `token`.
    pub fn new(token: &str) -> TokenCheck {
        TokenCheck {
            digest: sha256(token.as_bytes()),
        }
    }

    /// Whether `given` is the token (constant time in its content).
    fn accepts(&self, given: &str) -> bool {
        let d = sha256(given.as_bytes());
        d.iter()
            .zip(self.digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

/// The token a request presents, if any.
fn presented(request: &Request) -> Option<String> {
    if let Some(value) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
            return Some(rest.to_string());
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            return Some(
                text.split_once(':')
                    .map_or(text.clone(), |(_, p)| p.to_string()),
            );
        }
    }
    let query = request.uri().query()?;
    url_param(query, "p")
}

/// A query parameter's value, percent-decoded.
fn url_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

fn percent_decode(v: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which API's error shape a path answers in.
fn flavor(path: &str) -> Flavor {
    if path == "/write" || path == "/query" {
        Flavor::V1
    } else if path.starts_with("/api/v2/") {
        Flavor::V2
    } else {
        Flavor::V3
    }
}

/// The middleware: lets a request through if no token is configured, the path is open, or it
/// presents the token.
pub(super) async fn require_token(
    State(state): State<Arc<HttpState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(check) = &state.auth else {
        return next.run(request).await;
    };
    let path = request.uri().path().to_string();
    if path == "/health" || path == "/ping" {
        return next.run(request).await;
    }
    if presented(&request).is_some_and(|t| check.accepts(&t)) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    tracing::warn!(%peer, %path, "HTTP request without a valid token refused");
    ApiError::Unauthorized.into_response(flavor(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(auth: Option<&str>, uri: &str) -> Request {
        let mut b = axum::http::Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn every_way_influx_clients_send_a_token() {
        let check = TokenCheck::new("s3cr3t");
        let ok = |r: Request| presented(&r).is_some_and(|t| check.accepts(&t));
        assert!(ok(request(Some("Bearer s3cr3t"), "/api/v3/query_sql")));
        assert!(ok(request(Some("Token s3cr3t"), "/api/v2/write")));
        // user:s3cr3t
        assert!(ok(request(Some("Basic dXNlcjpzM2NyM3Q="), "/write")));
        assert!(ok(request(None, "/write?db=x&u=me&p=s3cr3t")));
        assert!(ok(request(None, "/write?p=s3%63r3t")));
        assert!(!ok(request(Some("Bearer wrong"), "/write")));
        assert!(!ok(request(None, "/write?db=x")));
        assert!(!ok(request(Some("Bearer "), "/write")));
    }
}
