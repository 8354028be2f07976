//! Duty rotas: schedules of layered rotations with overrides, resolved into who is on duty when.

pub mod layers;
pub mod resolve;
pub mod routes;
pub mod service;
