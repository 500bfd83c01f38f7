//! Logging through env_logger, with every secret scrubbed from every line.
//!
//! The bot token is part of every Telegram URL, and any dependency may log a URL at `debug` or `trace`:
//! redacting in the formatter is the one place that catches them all.

use crate::secret::Redactor;
use std::io::Write;

/// Installs the global logger. `RUST_LOG` picks the level (default `info`).
pub fn init(redactor: Redactor) {
    let env = env_logger::Env::default().default_filter_or("info");
    let result = env_logger::Builder::from_env(env)
        .format(move |buf, record| {
            let message = record.args().to_string();
            writeln!(
                buf,
                "{} {:<5} {}: {}",
                buf.timestamp_millis(),
                record.level(),
                record.target(),
                redactor.redact(&message)
            )
        })
        .try_init();
    if result.is_err() {
        // A logger was already installed (tests): keep it.
    }
}
