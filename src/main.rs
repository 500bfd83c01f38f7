//! Entry point: read the configuration, set up logging, run the application.

use aichat_telegram_bot::{app::Application, config::Config, logging};
use std::process::ExitCode;

const USAGE: &str = "aichat-telegram-bot: a Telegram bot for any OpenAI-compatible chat server.

Usage: aichat-telegram-bot [--check-config | --version | --help]

Configuration comes from environment variables and a .env file in the working directory;
see .env.example and docs/configuration.md.

  --check-config  print the effective configuration (secrets redacted) and exit
  --version       print the version and exit
  --help          print this help and exit";

fn main() -> ExitCode {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        None | Some("--check-config") => {}
        Some("--version") => {
            println!("aichat-telegram-bot {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("--help" | "-h") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("Unknown argument {other:?}.\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if arg.as_deref() == Some("--check-config") {
        print!("{}", config.describe());
        println!("Configuration OK.");
        return ExitCode::SUCCESS;
    }
    logging::init(config.redactor());
    // Two TLS providers in the dependency tree must never clash: pick ring explicitly.
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        log::debug!("a TLS crypto provider was already installed");
    }
    log::info!("aichat-telegram-bot {} starting", env!("CARGO_PKG_VERSION"));
    let system = actix_rt::System::new();
    let code = system.block_on(async move {
        match Application::build(config).await {
            Ok(app) => app.run_until_stopped().await,
            Err(e) => {
                log::error!("cannot start: {e}");
                1
            }
        }
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
