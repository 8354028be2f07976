//! Sync for phones that work offline: the caller's working set, then only what changed in it,
//! following the change feed ([`crate::changes`]) under the access rules.

pub mod cursor;
pub mod pull;
pub mod routes;
pub mod working_set;
