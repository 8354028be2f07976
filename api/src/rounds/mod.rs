//! Field rounds: teams, rounds planned one by one or from weekly series, check-in and check-out
//! from the phone, missed rounds, and coverage of hotspots and hours.

pub mod coverage;
pub mod field;
pub mod plan;
pub mod policy;
pub mod routes;
pub mod series;
pub mod teams;
