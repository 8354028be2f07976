//! Alerts about children in danger and rota gaps: raised once per dedup key, escalated step by
//! step through the outbox until somebody acknowledges, with every message recorded.

pub mod coverage;
pub mod emergency;
pub mod escalation;
pub mod paging;
pub mod policy;
pub mod reach;
pub mod readiness;
pub mod recipients;
pub mod routes;
pub mod service;
pub mod store;
pub mod timeline;
