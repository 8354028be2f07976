//! Wire types of the Terren API.
//!
//! This crate is what the mobile app team reads: every request and response body, with its
//! validation rules and OpenAPI schema. It knows nothing about databases or HTTP servers.

pub mod agencies;
pub mod alerts;
pub mod areas;
pub mod auth;
pub mod batch;
pub mod cases;
pub mod common;
pub mod examples;
pub mod exports;
pub mod hotspots;
pub mod identifications;
pub mod lifeline;
pub mod problem;
pub mod profiles;
pub mod referrals;
pub mod reports;
pub mod rounds;
pub mod schedules;
pub mod schema_rules;
pub mod sync;
pub mod time;
pub mod unions;
pub mod users;
pub mod vocabularies;

pub use common::{Permission, Role};

/// The contract's version: the document's `info.version` and the latest section of
/// `CHANGELOG.md`. A minor step adds; a major one (a new `/api/vN`) may take away.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
