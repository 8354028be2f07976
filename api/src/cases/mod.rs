//! Protection cases: the facts of a child's case management that the national reports count
//! (who identified the child, assessed risk, primary problem, measures, closing). `store` holds
//! the rows, `service` the use cases, `routes` the API.

pub mod register;
pub mod routes;
pub mod service;
pub mod store;
