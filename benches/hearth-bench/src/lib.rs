//! `hearth-bench`: a load tool for Hearth and any InfluxDB-compatible server.
//!
//! - `generate` writes deterministic line protocol: the TSBS devops
//!   "cpu-only" data set or the smart-home reference data set (with its
//!   realistic dirt), see [`generate`], [`cpu`] and [`smart_home`].
//! - `ingest` posts line protocol in batches from concurrent workers and
//!   reports throughput and acknowledgement latency, see [`ingest`].
//!
//! It depends on no `hearth-*` crate, so it builds in seconds and can be
//! pointed at other servers.

pub mod cli;
pub mod cpu;
pub mod generate;
pub mod ingest;
pub mod rng;
pub mod smart_home;
pub mod units;
