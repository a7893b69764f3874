//! `wildrydes-sandbox`: an embedded two-region AWS stand-in that speaks the
//! AWS wire protocols on loopback, so `wildrydes` drives it with the same
//! SDK clients it uses on AWS. One process per region and one global
//! process, each started by the [`launcher`] with the command it is given
//! (the CLI's `wildrydes sandbox serve`, or this crate's own
//! `wildrydes-sandbox serve`, which its tests use).
//!
//! What it does for real, because drills measure it: DynamoDB global-table
//! replication with configurable lag ([`services::dynamodb::replication`]), SigV4 on
//! every request ([`sigv4`]), and region outages by signal ([`launcher`]).

// Handlers return ready-rendered AWS error responses as their `Err`: they
// travel one or two frames to the handler's `match`, never further, so
// boxing them would only add noise.
#![allow(clippy::result_large_err)]

pub mod authz;
pub mod control;
pub mod credentials;
pub mod dns;
pub mod door;
pub mod edge;
pub mod fault;
pub mod glob;
pub mod launcher;
pub mod limits;
pub mod query;
pub mod server;
pub mod services;
pub mod sigv4;
pub mod store;
pub mod topology;
pub mod wire;
pub mod xml;
