//! The reports the law asks for, computed from the field records: `period` names what a report
//! covers; `cases`, `street` and `referrals` count the tables of protection cases, of people in
//! street situations and of referrals (`sql` writes the counting queries the query builder
//! cannot); `suppress` hides small numbers from readers of aggregates only; `service` and
//! `routes` make a report and answer it.

pub mod cases;
pub mod frozen;
pub mod period;
pub mod plan;
pub mod referrals;
pub mod routes;
pub mod service;
pub mod sql;
pub mod street;
pub mod suppress;
