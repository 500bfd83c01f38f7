//! The webhook settings: with `TELEGRAM_WEBHOOK_URL` set, Telegram POSTs each update to the bot (through the
//! operator's reverse proxy) instead of the bot polling `getUpdates`.

use super::parse::whole;
use super::{Fallback, Legacy, Setting};
use crate::config::WebhookUrl;
use crate::secret::Secret;
use crate::telegram::webhook::valid_secret;

/// The ports Telegram delivers webhooks to.
const WEBHOOK_URL_PORTS: &[u16] = &[80, 88, 443, 8443];

/// The public HTTPS URL Telegram POSTs updates to (a reverse proxy forwards it to the bot); unset: the bot polls.
/// Its path is served on the API server, or on `WEBHOOK_PORT`.
pub static TELEGRAM_WEBHOOK_URL: Setting<Option<WebhookUrl>> = Setting {
    name: "TELEGRAM_WEBHOOK_URL",
    legacy: Legacy::None,
    default: Fallback::Value(|| None),
    parse: |name, s| webhook_url(name, s).map(Some),
    show: |c| {
        c.webhook
            .as_ref()
            .map_or("(not set: the bot polls getUpdates)".into(), |w| {
                w.url.url.clone()
            })
    },
};

/// The secret Telegram sends with every webhook request (`X-Telegram-Bot-Api-Secret-Token`); required with
/// `TELEGRAM_WEBHOOK_URL`. 1–256 of `A-Z a-z 0-9 _ -`. Secret.
pub static WEBHOOK_SECRET: Setting<Option<Secret>> = Setting {
    name: "WEBHOOK_SECRET",
    legacy: Legacy::None,
    default: Fallback::Value(|| None),
    parse: |name, s| {
        if valid_secret(s) {
            Ok(Some(Secret::new(s)))
        } else {
            Err(format!(
                "{name} must be 1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule); generate one \
                 with e.g. `openssl rand -hex 32`."
            ))
        }
    },
    show: |c| {
        c.webhook
            .as_ref()
            .map_or("(not set)".into(), |_| "<redacted>".into())
    },
};

/// The port the webhook is served on, by a server of its own (only the webhook's path), on `API_HOST`; unset: on
/// the API server's port. 0 picks a free one.
/// Unset: one port to forward; a port of its own lets the reverse proxy reach the webhook and nothing else.
pub static WEBHOOK_PORT: Setting<Option<u16>> = Setting {
    name: "WEBHOOK_PORT",
    legacy: Legacy::None,
    default: Fallback::Value(|| None),
    parse: |name, s| whole(name, s, 0..=65535, "a port").map(Some),
    show: |c| match c.webhook.as_ref().and_then(|w| w.port) {
        Some(port) => port.to_string(),
        None => "(not set: the API server's port)".into(),
    },
};

/// An `https://` URL with a host, on a port Telegram delivers to; its path is what the bot serves.
fn webhook_url(name: &str, s: &str) -> Result<WebhookUrl, String> {
    let problem = |why: &str| {
        format!("{name} {why} (e.g. https://bot.example.org/telegram/webhook), not {s:?}.")
    };
    let Some(rest) = s.strip_prefix("https://") else {
        return Err(problem(
            "must be an https:// URL: Telegram delivers webhooks over HTTPS only",
        ));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = match authority.rsplit_once(':') {
        Some((host, port)) => {
            let port: Option<u16> = port.parse().ok();
            if !port.is_some_and(|p| WEBHOOK_URL_PORTS.contains(&p)) {
                return Err(problem(
                    "must use port 443, 80, 88 or 8443 (the only ones Telegram delivers to)",
                ));
            }
            host
        }
        None => authority,
    };
    if host.is_empty() || authority.contains('@') {
        return Err(problem("must name a host"));
    }
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let path = tail.get(..path_end).unwrap_or_default();
    let path = if path.is_empty() { "/" } else { path };
    Ok(WebhookUrl {
        url: s.to_string(),
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_url_is_https_on_a_telegram_port_and_its_path_is_served() {
        let url = webhook_url("U", "https://bot.example.org/telegram/hook?x=1").unwrap();
        assert_eq!(url.path, "/telegram/hook");
        assert_eq!(url.url, "https://bot.example.org/telegram/hook?x=1");
        assert_eq!(
            webhook_url("U", "https://bot.example.org:8443")
                .unwrap()
                .path,
            "/"
        );
        assert_eq!(webhook_url("U", "https://[::1]:443/h").unwrap().path, "/h");
        for bad in [
            "http://bot.example.org/hook",
            "https://bot.example.org:8080/hook",
            "https://:443/hook",
            "https:///hook",
            "https://user@bot.example.org/hook",
        ] {
            let e = webhook_url("TELEGRAM_WEBHOOK_URL", bad).unwrap_err();
            assert!(e.starts_with("TELEGRAM_WEBHOOK_URL must"), "{bad}: {e}");
        }
    }
}
