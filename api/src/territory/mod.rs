//! Albania's counties, municipalities and administrative units: reference data, boundaries,
//! and resolving a GPS point to the areas it lies in.

pub mod fold;
pub mod import;
pub mod index;
pub mod refs;
pub mod routes;
pub mod service;
