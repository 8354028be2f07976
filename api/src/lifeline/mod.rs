//! The SMS lifeline: an emergency sent as one SMS by a phone with GSM but no data.
//!
//! `keys` derives each session's secret (told to the app at login); `signature` checks the SMS
//! gateway's signature on its webhook; `inbound` reads, checks and records a message; `store`
//! logs every message's outcome and the counters that refuse copies; `routes` is the webhook.
//! The message format itself, encoder and parser, is the contract's (`terren_contract::lifeline`).

pub mod inbound;
pub mod keys;
pub mod routes;
pub mod signature;
pub mod store;
