//! Referrals: a child (or adult) handed from the field to the unit that must act, routed by the
//! place's routing table, measured against deadlines, escalated when nobody acts, and closed with
//! an outcome the field worker who referred can see.

pub mod checker;
pub mod create;
pub mod deadlines;
pub mod lifecycle;
pub mod routes;
pub mod routing;
pub mod routing_rules;
pub mod service;
pub mod shelters;
pub mod store;
