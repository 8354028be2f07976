//! Field rounds: teams, rounds planned one by one or from weekly series, check-in and check-out
//! from the phone, missed rounds, and coverage of hotspots and hours.

pub mod conflicts;
pub mod coverage;
pub mod field;
pub mod missed;
pub mod plan;
pub mod plan_ahead;
pub mod policy;
pub mod read;
pub mod routes;
pub mod series;
pub mod store;
pub mod teams;
pub mod window;
