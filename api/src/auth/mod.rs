//! Logging in and staying logged in: passwords, tokens, sessions, throttling, permissions.

pub mod password;
pub mod permissions;
pub mod routes;
pub mod service;
pub mod throttle;
pub mod tokens;
