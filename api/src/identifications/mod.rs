//! Field identifications: GPS-tagged sightings of children and adults in street situations,
//! recorded from phones, resolved to the areas responsible for them, private by default.
//!
//! `store` holds the row and the queries the use cases share; `validate`, `create`, `read`,
//! `lists` and `statistics` are the use cases; `privacy` the pure rules about age bands and
//! coarse locations.

pub mod create;
pub mod lists;
pub mod privacy;
pub mod read;
pub mod routes;
pub mod statistics;
pub mod store;
pub mod validate;
