//! The drill engine behind `wildrydes failover-test` (DESIGN.md,
//! "Drills"): playbooks, faults, probes (the region-following user client
//! among them), one clock and event record, the engine's phases, and the
//! reports.

pub mod client;
pub mod engine;
pub mod env;
pub mod fault;
pub mod lock;
pub mod login;
pub mod measure;
pub mod playbook;
pub mod probes;
pub mod progress;
pub mod render;
pub mod report;
