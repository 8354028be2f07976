//! The reports the law asks for, computed from the field records: `period` names what a report
//! covers, `cases` counts the national report's case tables, `suppress` hides small numbers from
//! readers of aggregates only, `service` and `routes` make a report and answer it. `export` renders
//! a report as a file (CSV, XLSX, a DHIS2 data value set), `dhis2_mapping` keeps the DHIS2 ids
//! that Terren's codes stand for, and `export_routes` answers both.

pub mod cases;
pub mod dhis2_mapping;
pub mod export;
pub mod export_routes;
pub mod period;
pub mod routes;
pub mod service;
pub mod suppress;
