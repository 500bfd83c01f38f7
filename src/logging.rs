//! Logging through env_logger, with every secret scrubbed from every line.
//!
//! The bot token is part of every Telegram URL, and any dependency may log a URL at `debug` or `trace`:
//! redacting in the formatter is the one place that catches them all.
//!
//! One more thing is done to every record on its way in: a client's malformed request, which a dependency
//! logs as an `error`, is written at `debug` (`level_of`).

use crate::secret::Redactor;
use log::{Level, Log, Metadata, Record};
use std::io::Write;

/// Where actix-http logs a request it could not parse (a malformed head, e.g. `Transfer-Encoding: chunked`
/// beside a `Content-Length`), after it has answered it 400 itself, before the application sees it.
const CLIENT_ERROR_TARGET: &str = "actix_http::h1::dispatcher";
/// How that line starts (actix-http's `DispatchError::Parse`); the rest names what was malformed. Its other
/// `stream error`s (a failing body, a service error) are the bot's own and stay errors.
const CLIENT_ERROR_PREFIX: &str = "stream error: request parse error";

/// Installs the global logger. `RUST_LOG` picks the level (default `info`).
pub fn init(redactor: Redactor) {
    let env = env_logger::Env::default().default_filter_or("info");
    let logger = env_logger::Builder::from_env(env)
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
        .build();
    let max_level = logger.filter();
    if log::set_boxed_logger(Box::new(ClientErrorsAtDebug(logger))).is_ok() {
        log::set_max_level(max_level);
    } else {
        // A logger was already installed (tests): keep it.
    }
}

/// env_logger's logger, writing each record at [`level_of`] it.
struct ClientErrorsAtDebug(env_logger::Logger);

impl Log for ClientErrorsAtDebug {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        let level = level_of(record);
        if level == record.level() {
            self.0.log(record);
        } else {
            self.0.log(
                &Record::builder()
                    .args(*record.args())
                    .level(level)
                    .target(record.target())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            );
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// The level a record is written at: its own, except `debug` for a request a client sent malformed. Any
/// client can send those at will, the bot has nothing to fix, and a flood of them must not bury its real
/// errors; the operator who wants them sets `RUST_LOG=info,actix_http::h1::dispatcher=debug`.
fn level_of(record: &Record<'_>) -> Level {
    let client_error = record.level() == Level::Error
        && record.target() == CLIENT_ERROR_TARGET
        && record.args().to_string().starts_with(CLIENT_ERROR_PREFIX);
    if client_error {
        Level::Debug
    } else {
        record.level()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_a_client_sent_malformed_is_written_at_debug_and_other_errors_stay_errors() {
        let level = |level, target, message: &str| {
            level_of(
                &Record::builder()
                    .level(level)
                    .target(target)
                    .args(format_args!("{message}"))
                    .build(),
            )
        };
        let parse_error = "stream error: request parse error: invalid Header provided";

        assert_eq!(
            level(Level::Error, CLIENT_ERROR_TARGET, parse_error),
            Level::Debug
        );
        assert_eq!(
            level(
                Level::Error,
                CLIENT_ERROR_TARGET,
                "stream error: body error: x"
            ),
            Level::Error
        );
        assert_eq!(
            level(Level::Error, "aichat_telegram_bot::http", parse_error),
            Level::Error
        );
        assert_eq!(
            level(Level::Info, CLIENT_ERROR_TARGET, parse_error),
            Level::Info
        );
    }
}
