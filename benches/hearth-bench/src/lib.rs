//! `hearth-bench`: a load tool for Hearth and any InfluxDB-compatible server.
//!
//! - `generate` writes deterministic line protocol: the TSBS devops
//!   "cpu-only" data set or the smart-home reference data set (with its
//!   realistic dirt), see [`generate`], [`cpu`] and [`smart_home`].
//! - `ingest` posts line protocol in batches from concurrent workers and
//!   reports throughput and acknowledgement latency, see [`ingest`].
//! - `query` runs the TSBS devops queries over the PostgreSQL protocol with
//!   TSBS's random parameters and reports latency per type, see [`query`].
//!
//! It depends on no `hearth-*` crate, so it builds in seconds and can be
//! pointed at other servers.

pub mod cli;
pub mod cpu;
pub mod generate;
pub mod ingest;
pub mod query;
pub mod rng;
pub mod smart_home;
pub mod units;
