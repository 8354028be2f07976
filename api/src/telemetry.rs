//! Structured logs with `tracing`: human-readable by default, JSON for log collectors.

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

pub fn init(config: &LogConfig) {
    init_to(config, false);
}

/// As [`init`], logging to standard error when `stderr` (a command whose output is its result).
pub fn init_to(config: &LogConfig, stderr: bool) {
    let filter = EnvFilter::new(&config.filter);
    // Colours only on a terminal: log files and collectors get plain text.
    let ansi = if stderr {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    } else {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi);
    let result = match (config.format, stderr) {
        (LogFormat::Json, false) => builder.json().flatten_event(true).try_init(),
        (LogFormat::Json, true) => builder.json().flatten_event(true).with_writer(std::io::stderr).try_init(),
        (LogFormat::Text, false) => builder.try_init(),
        (LogFormat::Text, true) => builder.with_writer(std::io::stderr).try_init(),
    };
    // A second init (tests, repeated commands) keeps the first subscriber.
    drop(result);
}
