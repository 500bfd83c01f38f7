//! The HTTP server's settings: where it listens and the token of the admin API.

use super::parse::whole;
use super::{Fallback, Legacy, Setting};
use crate::secret::Secret;

/// The address the HTTP server listens on (checked when it is bound, not here).
/// Loopback: `/health` and `/ready` have no authentication.
pub static API_HOST: Setting<String> = Setting {
    name: "API_HOST",
    legacy: Legacy::None,
    default: Fallback::Value(|| "127.0.0.1".to_string()),
    parse: |_, s| Ok(s.to_string()),
    show: |c| c.api_host.clone(),
};

/// The HTTP port; 0 picks a free one.
/// 8080: unprivileged (no root needed to bind it), the usual port of a local HTTP service.
pub static API_PORT: Setting<u16> = Setting {
    name: "API_PORT",
    legacy: Legacy::None,
    default: Fallback::Value(|| 8080),
    parse: |name, s| whole(name, s, 0..=65535, "a port"),
    show: |c| c.api_port.to_string(),
};

/// Enables the admin API (`/api/…`) and the dashboard, as the bearer token every call must carry. Secret.
pub static API_TOKEN: Setting<Option<Secret>> = Setting {
    name: "API_TOKEN",
    legacy: Legacy::None,
    default: Fallback::Value(|| None),
    parse: |_, t| {
        if t.len() < 16 {
            Err("API_TOKEN must be at least 16 characters long (it guards the admin API); generate one with \
                 e.g. `openssl rand -hex 24`."
                .into())
        } else {
            Ok(Some(Secret::new(t)))
        }
    },
    show: |c| {
        c.api_token
            .as_ref()
            .map_or("(not set: no admin API)".into(), |_| "<redacted>".into())
    },
};
