//! Integration tests through the real HTTP application, on SQLite or PostgreSQL
//! (see `harness.rs`).

mod agencies;
mod auth;
mod boundaries;
mod contract;
mod errors;
mod harness;
mod ops;
mod reference;
mod schema;
mod users;
