//! Hearth's front ends: HTTP (axum) and the PostgreSQL wire protocol (pgwire).
//!
//! Only this crate knows HTTP and the wire protocol. Each front end maps errors to status codes
//! or SQLSTATEs in exactly one place (`http::error`, `pg::errors`).

pub mod http;
pub mod pg;
pub mod tls;
