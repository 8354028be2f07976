//! Sync for phones that work offline: the caller's working set, then only what changed in it,
//! following the change feed ([`crate::changes`]) under the access rules.

mod answer;
pub mod batch;
pub mod collections;
pub mod cursor;
pub mod pull;
pub mod reference;
pub mod replicas;
pub mod routes;
