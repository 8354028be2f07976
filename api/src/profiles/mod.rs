//! Child profiles: the same child across sightings. A profile holds the stable facts under a
//! pseudonymous reference; sightings link to it, candidates are proposed for each new sighting,
//! and coordinators merge and unmerge profiles with an audit trail.
//!
//! `store` holds the row and the queries the use cases share; `linking`, `views`, `lists`,
//! `update` and `merge` are the use cases; `candidates` ranks the profiles a sighting may
//! belong to; `names` and `stored_names` fold, sound out and keep names.

pub mod candidates;
pub mod linking;
pub mod lists;
pub mod merge;
pub mod names;
pub mod routes;
pub mod store;
pub mod stored_names;
pub mod update;
pub mod views;
