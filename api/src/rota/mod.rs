//! Duty rotas: schedules of layered rotations with overrides, resolved into who is on duty when;
//! swaps between members; calendar feeds and a CSV rota for partners.

pub mod cache;
pub mod calendar;
pub mod ical;
pub mod layers;
pub mod on_call;
pub mod overrides;
pub mod resolve;
pub mod routes;
pub mod service;
pub mod shifts;
pub mod spreadsheet;
pub mod swaps;
