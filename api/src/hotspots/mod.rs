//! Hotspots: named places where children are found (a junction, a market, a station), kept by
//! coordinators, visited on rounds, measured in coverage, and suggested from where sightings
//! cluster.

pub mod cluster;
pub mod routes;
pub mod service;
pub mod shape;
