//! The reports the law asks for, computed from the field records: `period` names what a report
//! covers; `cases`, `street` and `referrals` count the tables of protection cases, of people in
//! street situations and of referrals (`sql` writes the counting queries the query builder
//! cannot); `plan` the municipal plan's indicators; `suppress` hides small numbers from readers
//! of aggregates only; `service` and `routes` make a report and answer it; `frozen` keeps
//! reports as they were counted. `export` renders a report as a file (CSV, XLSX, a DHIS2 data
//! value set), `dhis2_mapping` keeps the DHIS2 ids that Terren's codes stand for, and
//! `export_routes` answers both.

pub mod cases;
pub mod dhis2_mapping;
pub mod export;
pub mod export_routes;
pub mod frozen;
pub mod period;
pub mod plan;
pub mod referrals;
pub mod routes;
pub mod service;
pub mod sql;
pub mod street;
pub mod suppress;
