//! Child profiles: the same child across sightings. A profile holds the stable facts under a
//! pseudonymous reference; sightings link to it, candidates are proposed for each new sighting,
//! and coordinators merge and unmerge profiles with an audit trail.

pub mod candidates;
pub mod names;
pub mod routes;
pub mod service;
