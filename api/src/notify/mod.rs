//! Paging people: push (FCM HTTP v1), SMS (Twilio's API) and signed webhooks for partner systems.
//!
//! `Notifier::send` makes up to `max_tries` HTTP attempts on one address and records each with
//! the provider's answer; a page walks a person's addresses (push, then SMS) with it, and is sent
//! again later if none delivered. A provider that says an address is dead (`InvalidAddress`) is
//! never asked again for that message. In `dry_run` mode nothing leaves the process: each send is
//! logged and counts as delivered.
//!
//! `message` holds what is said and where, `delivery` what came back, `config` the `notify`
//! settings, `notifier` the sending; `fcm`, `sms` and `webhook` speak to each provider.

mod config;
mod delivery;
mod fcm;
mod http;
mod message;
mod notifier;
mod retry;
mod sms;
#[cfg(test)]
pub(crate) mod testing;
pub mod webhook;

pub use config::{FcmConfig, NotifyConfig, NotifyMode, SmsConfig};
pub use delivery::{Attempt, Delivery, Outcome};
pub use message::{Address, Message};
pub use notifier::Notifier;
