//! Integration tests through the real HTTP application, on SQLite or PostgreSQL
//! (see `harness.rs`).
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on the unexpected")]

mod agencies;
mod alerts;
mod audit;
mod auth;
mod boundaries;
mod cases;
mod changes;
mod cli;
mod contract;
mod contract_examples;
mod demo;
mod demo_accounts;
mod errors;
mod fixtures;
mod harness;
mod identifications;
mod input_hygiene;
mod lifeline;
mod limits;
mod openapi_routes;
mod ops;
mod paging;
mod paging_process;
mod permissions;
mod profiles;
mod reference;
mod referrals;
mod report_exports;
mod report_figures;
mod reports;
mod rota_publishing;
mod rotas;
mod rounds;
mod schema;
mod sync;
mod users;
