//! People: accounts, roles, agency membership and their administration.

pub mod model;
pub mod routes;
pub mod service;
