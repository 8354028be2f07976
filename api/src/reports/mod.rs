//! The reports the law asks for, computed from the field records: `period` names what a report
//! covers, `cases` counts the national report's case tables, `suppress` hides small numbers from
//! readers of aggregates only, `service` and `routes` make a report and answer it.

pub mod cases;
pub mod period;
pub mod routes;
pub mod service;
pub mod suppress;
