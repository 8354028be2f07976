//! Terren: the backend for street-outreach teams, mobile service units and 24/7 duty staff.
//!
//! `app` assembles the service; each capability lives in its own module with `routes`
//! (handlers and their OpenAPI description) and `service` (rules and transactions).

pub mod access;
pub mod accounts;
pub mod agencies;
pub mod alerts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cases;
pub mod changes;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod digest;
pub mod hotspots;
pub mod http;
pub mod identifications;
pub mod ids;
pub mod lifeline;
pub mod notify;
pub mod openapi;
pub mod ops;
pub mod outbox;
pub mod profiles;
pub mod referrals;
pub mod reports;
pub mod retention;
pub mod rota;
pub mod rounds;
pub mod seed;
pub mod startup;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod territory;
pub mod vocabularies;
pub mod worker;
