//! The Wild Rydes ticket API, run as an AWS Lambda function behind API
//! Gateway (REST v1 proxy events) or a function URL (v2 events).
//!
//! Routes: `POST /tickets`, `GET /tickets`, `GET /tickets/{id}` (the
//! caller's own tickets, keyed by their login: see [`owner`]) and
//! `GET /health` (a deep ping of the region's table). The contract is in
//! `openapi.yaml`; the fault hooks drills use are in [`fault`].

pub mod cursor;
pub mod fault;
pub mod handler;
pub mod model;
pub mod owner;
pub mod store;

#[cfg(test)]
mod tests;
