//! Field identifications: GPS-tagged sightings of children and adults in street situations,
//! recorded from phones, resolved to the areas responsible for them, private by default.

pub mod privacy;
pub mod routes;
pub mod service;
