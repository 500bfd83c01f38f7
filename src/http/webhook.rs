//! The webhook endpoint (webhook mode, `TELEGRAM_WEBHOOK_URL`): Telegram POSTs one update per request to the
//! URL's path, on the API server or on `WEBHOOK_PORT`.
//!
//! | request | answer | why |
//! |---|---|---|
//! | without the right `X-Telegram-Bot-Api-Secret-Token` | 401 | not from Telegram (checked in constant time) |
//! | a body over [`MAX_UPDATE_BYTES`] | 413 | no update is that big |
//! | not JSON, or not an update | 200, logged | Telegram would deliver it again and again; nothing can read it |
//! | an update, durably queued (or already queued once) | 200 | Telegram forgets it only now |
//! | an update while Redis is away, or the process stops | 503 | Telegram delivers it again later |

use crate::actors::poller::{Deliver, Delivered, TelegramPoller};
use crate::metrics::Metrics;
use crate::secret::Secret;
use crate::telegram::types::IncomingUpdate;
use crate::telegram::webhook::SECRET_HEADER;
use actix::Addr;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// The largest request body taken: an update with the longest text, its entities and the message it replies
/// to is a few tens of kilobytes; a megabyte leaves room for anything Telegram sends.
pub const MAX_UPDATE_BYTES: usize = 1024 * 1024;

/// How long a request waits for its update to be queued before it is answered 503 (Telegram delivers it again;
/// if it was queued after all, the repeat is recognised by its `update_id`). Well under Telegram's own wait.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the endpoint needs.
#[derive(Clone)]
pub struct WebhookState {
    /// Judges and queues each update.
    pub poller: Addr<TelegramPoller>,
    /// `WEBHOOK_SECRET`.
    pub secret: Secret,
    pub metrics: Arc<Metrics>,
}

/// Serves the webhook at `path` with `state`.
pub fn routes(cfg: &mut web::ServiceConfig, path: &str, state: WebhookState) {
    cfg.app_data(web::Data::new(state))
        .route(path, web::post().to(receive));
}

async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<WebhookState>,
) -> HttpResponse {
    let count = |outcome: &str| {
        state
            .metrics
            .webhook_requests
            .with_label_values(&[outcome])
            .inc();
    };
    let given = req
        .headers()
        .get(SECRET_HEADER)
        .map_or(&b""[..], |v| v.as_bytes());
    if !state.secret.verify(given) {
        count("unauthorized");
        log::warn!(
            "refused a webhook request without the right secret (from {})",
            req.peer_addr().map_or("?".into(), |a| a.ip().to_string())
        );
        return HttpResponse::Unauthorized().finish();
    }
    let body = match read_limited(payload, MAX_UPDATE_BYTES).await {
        Ok(body) => body,
        Err(Unread::TooLarge) => {
            count("too_large");
            log::warn!("refused a webhook request over {MAX_UPDATE_BYTES} bytes");
            return HttpResponse::PayloadTooLarge().finish();
        }
        // The connection broke: nobody is left to answer; Telegram sends the update again.
        Err(Unread::Broken) => {
            count("unavailable");
            return HttpResponse::BadRequest().finish();
        }
    };
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => {
            count("malformed");
            log::warn!(
                "a webhook request is not JSON ({} bytes: {e}); answered 200 so Telegram does not send it again",
                body.len()
            );
            return HttpResponse::Ok().finish();
        }
    };
    let update = IncomingUpdate::from_value(value);
    let answer = tokio::time::timeout(QUEUE_TIMEOUT, state.poller.send(Deliver(update))).await;
    match answer {
        Ok(Ok(Ok(Delivered::Queued))) => {
            count("queued");
            HttpResponse::Ok().finish()
        }
        Ok(Ok(Ok(Delivered::Duplicate))) => {
            count("duplicate");
            HttpResponse::Ok().finish()
        }
        Ok(Ok(Ok(Delivered::Malformed))) => {
            count("malformed");
            HttpResponse::Ok().finish()
        }
        failed => {
            count("unavailable");
            match failed {
                Ok(Ok(Err(e))) => log::warn!("cannot take a webhook update now ({e}); Telegram sends it again"),
                Ok(Err(e)) => log::warn!("the poller cannot take a webhook update ({e}); Telegram sends it again"),
                _ => log::warn!(
                    "a webhook update was not queued within {QUEUE_TIMEOUT:?}; Telegram sends it again"
                ),
            }
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

/// Why a body was not read.
enum Unread {
    TooLarge,
    Broken,
}

/// The whole body, unless it grows past `limit` or the connection breaks.
async fn read_limited(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, Unread> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| Unread::Broken)?;
        if body.len() + chunk.len() > limit {
            return Err(Unread::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
