//! Integration tests: the real `hearth` binary, real sockets, real files, real clients
//! (reqwest over HTTP, tokio-postgres and psql over the PostgreSQL protocol, Python's
//! `deltalake` package reading the Delta tables), and `kill -9` for crashes.

mod bad_input;
mod clients;
mod crash;
mod cron;
mod databases;
mod delta;
mod idempotency;
mod invoices;
mod limits;
mod s3;
mod security;
mod server;
mod slt;
mod tables;
mod tsbs;
mod views;
mod write_read;
