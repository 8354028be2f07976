//! The directory of agencies: who acts on a child's situation, where, when and how to reach them.

pub mod routes;
pub mod service;
