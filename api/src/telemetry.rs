//! Structured logs with `tracing`: human-readable by default, JSON for log collectors.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

pub fn init(config: &LogConfig) {
    let filter = EnvFilter::new(&config.filter);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let result = match config.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    // A second init (tests, repeated commands) keeps the first subscriber.
    drop(result);
}
