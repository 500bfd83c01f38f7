//! The admin API under `/api`: sessions (list, show, messages, delete), the queue's figures, dead letters
//! (list, re-queue, drop), database backups and the usage report. See `docs/api.md`.
//!
//! It answers only when `API_TOKEN` is set (otherwise every `/api/...` path is 404, as if it did not exist),
//! and only to `Authorization: Bearer <API_TOKEN>` (otherwise 401), compared in constant time. Every answer,
//! errors included, is JSON; an error is `{"error": "...", "status": N}`. Malformed input (query, path, body,
//! a body's chunked framing) is a 400, never a 500, and is not logged as an error: any client can send it.
//! (A request whose HTTP head cannot be parsed never gets here: actix-http answers it with an empty 400, and
//! `crate::logging` lowers the error it logs about it to `debug`.)

use super::views::{
    ActivityView, BackupView, DeadListView, DroppedView, ErrorView, MessagesView, RequeuedView,
    SessionDeletedView, SessionView, SessionsView, UsageReportView,
};
use super::AppState;
use crate::actors::session_manager::{
    Backup, BackupOutcome, DeleteChat, GetChat, GetUsageReport, ListChats, ListMessages,
    SessionError, SessionManager,
};
use crate::db::spending::{GroupBy, UsageQuery};
use crate::ids::{ChatId, JobId, UserId};
use crate::paging::Page;
use crate::queue::{QueueError, Requeued};
use actix::dev::ToEnvelope;
use actix::{Handler, Message};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse, ResponseError};
use jiff::civil::Date;
use jiff::ToSpan;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A SessionManager read or delete that takes longer than this is reported as 503 (the database is busy,
/// e.g. both of its threads are writing). A backup is not bounded: it takes as long as the copy takes.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request body (only `POST /api/backup` has one, a file name).
const MAX_BODY_BYTES: usize = 4096;
/// The longest backup file name (the pattern's `{0,99}` plus its first character).
const MAX_BACKUP_NAME: usize = 100;
/// The longest job id accepted in a path; the bot's own are `u{update_id}` and `compress-{chat}`.
const MAX_JOB_ID: usize = 200;
/// The longest range `GET /api/usage` reports on, in days, both ends included: a year, a leap one too.
const MAX_USAGE_DAYS: i32 = 366;
/// The range `GET /api/usage` reports on without `from`: 30 days ending with `to` (the dashboard's chart).
const DEFAULT_USAGE_DAYS: i32 = 30;
/// Files SQLite keeps next to the database: a backup must never take one of these names.
const SQLITE_SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Registers the `/api` scope: the token check around every route, JSON errors for bad input, unknown paths
/// and wrong methods.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .wrap(from_fn(require_token))
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                ApiError::bad_request(format!("bad query parameters: {e}")).into()
            }))
            .app_data(web::PathConfig::default().error_handler(|e, _| {
                ApiError::bad_request(format!("bad path parameter: {e}")).into()
            }))
            .app_data(
                web::JsonConfig::default()
                    .limit(MAX_BODY_BYTES)
                    .error_handler(|e, _| json_error(&e).into()),
            )
            .service(resource("/sessions").route(web::get().to(list_sessions)))
            .service(
                resource("/sessions/{chat_id}")
                    .route(web::get().to(get_session))
                    .route(web::delete().to(delete_session)),
            )
            .service(resource("/sessions/{chat_id}/messages").route(web::get().to(list_messages)))
            .service(resource("/queue").route(web::get().to(queue_stats)))
            .service(resource("/activity").route(web::get().to(activity)))
            .service(resource("/dead").route(web::get().to(list_dead)))
            .service(resource("/dead/{id}").route(web::delete().to(drop_dead)))
            .service(resource("/dead/{id}/retry").route(web::post().to(retry_dead)))
            .service(resource("/backup").route(web::post().to(backup)))
            .service(resource("/usage").route(web::get().to(usage)))
            .default_service(web::to(|| async {
                ApiError::not_found("no such endpoint")
            })),
    );
}

/// A resource whose other methods answer 405 in JSON.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed on this endpoint",
        )
    }))
}

// ---- Errors ------------------------------------------------------------------------------------------------

/// An error answer: `{"error": message, "status": status}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// A SessionManager failure, logged here (where it is handled) with its cause.
    fn session(what: &str, e: &SessionError) -> Self {
        log::error!("admin API: {what} failed: {e}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{what} failed: {e}"),
        )
    }

    /// A Redis failure: 503 while Redis cannot be reached, 500 for an answer the bot does not understand.
    fn queue(state: &AppState, what: &str, e: &QueueError) -> Self {
        let text = state.redactor.redact(&e.to_string()).into_owned();
        log::error!("admin API: {what} failed: {text}");
        let status = match e {
            QueueError::Protocol(_) | QueueError::NotThePoller => StatusCode::INTERNAL_SERVER_ERROR,
            QueueError::Redis(_) | QueueError::Timeout(_) | QueueError::Batch(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        Self::new(status, format!("{what} failed: {text}"))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(ErrorView {
            error: &self.message,
            status: self.status.as_u16(),
        })
    }
}

impl actix_web::Responder for ApiError {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _: &actix_web::HttpRequest) -> HttpResponse {
        self.error_response()
    }
}

/// A body that is too large is 413; any other unreadable body (not JSON, wrong fields, broken framing) is 400.
fn json_error(e: &actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError;
    match e {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {MAX_BODY_BYTES} bytes"),
            )
        }
        // The bytes did not arrive as a body: a malformed chunk, a connection cut short, a Content-Encoding
        // that does not decode. The client's doing, which anyone can repeat at will: `debug`, not `error`.
        JsonPayloadError::Payload(cause) => {
            log::debug!("admin API: a request body could not be read: {cause}");
            ApiError::bad_request(
                "the body could not be read: its chunked framing or its encoding is malformed, \
                 or it was cut short",
            )
        }
        other => ApiError::bad_request(format!("bad JSON body: {other}")),
    }
}

// ---- Authentication ----------------------------------------------------------------------------------------

/// 404 for everything while `API_TOKEN` is unset; 401 without the right bearer token.
async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let token = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.api_token.clone());
    let refusal = match token {
        None => Some(ApiError::not_found("no such endpoint")),
        Some(token) if !authorized(req.headers().get(header::AUTHORIZATION), &token) => {
            Some(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong API token: send `Authorization: Bearer <API_TOKEN>`",
            ))
        }
        Some(_) => None,
    };
    match refusal {
        Some(error) => Ok(req
            .into_response(error.error_response())
            .map_into_right_body()),
        None => next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body),
    }
}

/// Whether the `Authorization` header carries `token` as a bearer token.
fn authorized(header: Option<&HeaderValue>, token: &crate::secret::Secret) -> bool {
    header
        .and_then(|h| h.to_str().ok())
        .and_then(bearer)
        .is_some_and(|candidate| token.verify(candidate.as_bytes()))
}

/// The credentials of `Bearer <credentials>` (the scheme in any case, RFC 7235).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start())
}

// ---- Sessions ----------------------------------------------------------------------------------------------

/// `?page=&per_page=`; both optional.
#[derive(Debug, Deserialize)]
struct PageQuery {
    page: Option<u32>,
    per_page: Option<u32>,
}

impl PageQuery {
    fn page(&self) -> Result<Page, ApiError> {
        Page::new(self.page, self.per_page).map_err(|e| ApiError::bad_request(e.to_string()))
    }
}

async fn list_sessions(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let list = ask(&state, "listing the sessions", ListChats { page }).await?;
    Ok(HttpResponse::Ok().json(SessionsView::new(page, &list)))
}

async fn get_session(
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let chat_id = ChatId(path.into_inner());
    match ask(&state, "reading the session", GetChat { chat_id }).await? {
        Some(detail) => Ok(HttpResponse::Ok().json(SessionView::from(&detail))),
        None => Err(no_session(chat_id)),
    }
}

async fn list_messages(
    state: web::Data<AppState>,
    path: web::Path<i64>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let chat_id = ChatId(path.into_inner());
    let page = query.page()?;
    let msg = ListMessages { chat_id, page };
    match ask(&state, "listing the messages", msg).await? {
        Some(list) => Ok(HttpResponse::Ok().json(MessagesView::new(chat_id, page, &list))),
        None => Err(no_session(chat_id)),
    }
}

async fn delete_session(
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let chat_id = ChatId(path.into_inner());
    if ask(&state, "deleting the session", DeleteChat { chat_id }).await? {
        log::info!("admin API: session {chat_id} deleted");
        Ok(HttpResponse::Ok().json(SessionDeletedView::from(chat_id)))
    } else {
        Err(no_session(chat_id))
    }
}

fn no_session(chat_id: ChatId) -> ApiError {
    ApiError::not_found(format!("no session with id {chat_id}"))
}

/// Sends a message to the SessionManager, bounded by [`SESSION_TIMEOUT`].
async fn ask<M, T>(state: &AppState, what: &str, msg: M) -> Result<T, ApiError>
where
    M: Message<Result = Result<T, SessionError>> + Send + 'static,
    T: Send + 'static,
    SessionManager: Handler<M>,
    <SessionManager as actix::Actor>::Context: ToEnvelope<SessionManager, M>,
{
    match tokio::time::timeout(SESSION_TIMEOUT, state.sessions.send(msg)).await {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(e))) => Err(ApiError::session(what, &e)),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{what} failed: the session manager is unavailable ({e})"),
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{what} failed: the database did not answer within {SESSION_TIMEOUT:?}"),
        )),
    }
}

// ---- Queue and dead letters --------------------------------------------------------------------------------

async fn queue_stats(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let stats = state
        .queue
        .stats()
        .await
        .map_err(|e| ApiError::queue(&state, "reading the queue", &e))?;
    Ok(HttpResponse::Ok().json(stats))
}

/// `GET /api/activity`: the jobs running now (with their worker) and the jobs that ended recently.
async fn activity(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(ActivityView::from(state.activity.snapshot()))
}

async fn list_dead(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let dead = state
        .queue
        .dead_jobs(page)
        .await
        .map_err(|e| ApiError::queue(&state, "listing the dead jobs", &e))?;
    Ok(HttpResponse::Ok().json(DeadListView::new(page, &dead)))
}

async fn retry_dead(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(path.into_inner())?;
    let outcome = state
        .queue
        .requeue_dead(&id)
        .await
        .map_err(|e| ApiError::queue(&state, "re-queueing the job", &e))?;
    let queued = match outcome {
        Requeued::Ready => "ready",
        Requeued::Waiting => "waiting",
        Requeued::NotFound => return Err(no_dead_job(&id)),
        Requeued::Conflict => {
            return Err(ApiError::conflict(format!(
                "a job with id {id} is queued again; drop the dead one instead"
            )))
        }
    };
    log::info!("admin API: dead job {id} re-queued ({queued})");
    Ok(HttpResponse::Ok().json(RequeuedView::new(&id, queued)))
}

async fn drop_dead(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(path.into_inner())?;
    let dropped = state
        .queue
        .drop_dead(&id)
        .await
        .map_err(|e| ApiError::queue(&state, "dropping the job", &e))?;
    if !dropped {
        return Err(no_dead_job(&id));
    }
    log::info!("admin API: dead job {id} dropped");
    Ok(HttpResponse::Ok().json(DroppedView::from(&id)))
}

fn no_dead_job(id: &JobId) -> ApiError {
    ApiError::not_found(format!("no dead job with id {id}"))
}

/// A job id from a path: letters, digits, `-`, `_`, `.` (what the bot makes), so it cannot reach other keys.
fn job_id(raw: String) -> Result<JobId, ApiError> {
    let valid = !raw.is_empty()
        && raw.len() <= MAX_JOB_ID
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(JobId(raw))
    } else {
        Err(ApiError::bad_request(format!(
            "a job id is 1 to {MAX_JOB_ID} letters, digits, '-', '_' or '.'"
        )))
    }
}

// ---- Backup ------------------------------------------------------------------------------------------------

/// The body of `POST /api/backup`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BackupRequest {
    /// The backup's file name, checked by [`backup_target`].
    name: String,
}

/// A body that must be a JSON object holding `T`'s fields. Serde's derived `Deserialize` of a struct also
/// takes an array of its fields in order (`["b.db"]`), and `docs/api.md` promises objects only; this takes
/// nothing else, so an array, a string or a number is a 400 saying an object is expected.
#[derive(Debug)]
struct JsonObject<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectOnly(PhantomData))
            .map(JsonObject)
    }
}

async fn backup(
    state: web::Data<AppState>,
    body: web::Json<JsonObject<BackupRequest>>,
) -> Result<HttpResponse, ApiError> {
    let JsonObject(body) = body.into_inner();
    let target = backup_target(&state.database_path, &body.name)?;
    let msg = Backup {
        target: target.clone(),
    };
    // Not bounded by SESSION_TIMEOUT: a large database takes as long as it takes.
    let outcome = match state.sessions.send(msg).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) => return Err(ApiError::session("the backup", &e)),
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the backup failed: the session manager is unavailable ({e})"),
            ))
        }
    };
    match outcome {
        BackupOutcome::Created { path, bytes } => {
            let path = std::path::absolute(&path).unwrap_or(path);
            log::info!(
                "admin API: database backed up to {} ({bytes} bytes)",
                path.display()
            );
            Ok(HttpResponse::Created().json(BackupView::new(&body.name, &path, bytes)))
        }
        BackupOutcome::Exists => Err(ApiError::conflict(format!(
            "{} already exists; choose another name",
            target.display()
        ))),
    }
}

/// Where the backup `name` goes: the database's directory. The name matches
/// `^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$` (so no path separators, no `..`, nothing absolute) and is not the
/// database's own file or one SQLite keeps beside it (`-wal`, `-shm`, `-journal`).
fn backup_target(database: &Path, name: &str) -> Result<PathBuf, ApiError> {
    let well_formed = name.len() <= MAX_BACKUP_NAME
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !well_formed {
        return Err(ApiError::bad_request(
            "name must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$: a plain file name, no directories",
        ));
    }
    let own = database
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let taken = name == own
        || SQLITE_SIDE_FILES
            .iter()
            .any(|suffix| name == format!("{own}{suffix}"));
    if taken {
        return Err(ApiError::bad_request(
            "name is the database's own file (or one SQLite keeps beside it); choose another",
        ));
    }
    let dir = database
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Ok(dir.join(name))
}

// ---- Usage -------------------------------------------------------------------------------------------------

/// `?from=&to=&user_id=&group_by=&page=&per_page=`, all optional, checked by [`usage_query`]. Read as text
/// so that each bad value gets its own message.
#[derive(Debug, Default, Deserialize)]
struct UsageParams {
    from: Option<String>,
    to: Option<String>,
    user_id: Option<String>,
    group_by: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

/// `GET /api/usage`: what the model requests used, grouped by day, user or model, priced.
async fn usage(
    state: web::Data<AppState>,
    params: web::Query<UsageParams>,
) -> Result<HttpResponse, ApiError> {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let query = usage_query(&params, today)?;
    let report = ask(&state, "reading the usage", GetUsageReport(query.clone())).await?;
    let price = |model: &str| state.catalog.price_of(model);
    Ok(HttpResponse::Ok().json(UsageReportView::new(&query, &report, &price)))
}

/// The report `params` ask for, `today` (UTC) being the default `to`; a 400 naming the first bad value.
fn usage_query(params: &UsageParams, today: Date) -> Result<UsageQuery, ApiError> {
    let to = match &params.to {
        Some(raw) => day("to", raw)?,
        None => today,
    };
    let from = match &params.from {
        Some(raw) => day("from", raw)?,
        None => to
            .checked_sub((DEFAULT_USAGE_DAYS - 1).days())
            .map_err(|_| ApiError::bad_request("to is too early to count 30 days back from"))?,
    };
    if from > to {
        return Err(ApiError::bad_request(format!(
            "from ({from}) is after to ({to})"
        )));
    }
    let days = from
        .until(to)
        .map(|span| span.get_days() + 1)
        .unwrap_or(i32::MAX);
    if days > MAX_USAGE_DAYS {
        return Err(ApiError::bad_request(format!(
            "the range is {days} days; at most {MAX_USAGE_DAYS} are reported at once"
        )));
    }
    let user = match params.user_id.as_deref() {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(id) if id > 0 => Some(UserId(id)),
            _ => {
                return Err(ApiError::bad_request(
                    "user_id must be a Telegram user id, a whole number above 0",
                ))
            }
        },
    };
    let group_by = match params.group_by.as_deref() {
        None | Some("day") => GroupBy::Day,
        Some("user") => GroupBy::User,
        Some("model") => GroupBy::Model,
        Some(_) => return Err(ApiError::bad_request("group_by must be day, user or model")),
    };
    let page = Page::new(params.page, params.per_page)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(UsageQuery {
        from: from.to_string(),
        to: to.to_string(),
        user,
        group_by,
        page,
    })
}

/// A `YYYY-MM-DD` date (exactly that shape, and a real day) from the parameter `name`.
fn day(name: &str, raw: &str) -> Result<Date, ApiError> {
    let shaped = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    shaped
        .then(|| raw.parse::<Date>().ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{name} must be a date YYYY-MM-DD (UTC), e.g. 2026-12-03"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        let token = Secret::new("a-long-enough-admin-token");
        let header = |v: &'static str| HeaderValue::from_static(v);
        assert!(authorized(
            Some(&header("Bearer a-long-enough-admin-token")),
            &token
        ));
        assert!(authorized(
            Some(&header("bearer  a-long-enough-admin-token")),
            &token
        ));
        assert!(!authorized(None, &token));
        assert!(!authorized(
            Some(&header("Bearer a-long-enough-admin-tokeN")),
            &token
        ));
        assert!(!authorized(
            Some(&header("Basic a-long-enough-admin-token")),
            &token
        ));
        assert!(!authorized(
            Some(&header("a-long-enough-admin-token")),
            &token
        ));
        assert!(!authorized(Some(&header("Bearer ")), &token));
    }

    #[test]
    fn a_backup_name_is_a_plain_file_name_beside_the_database() {
        let db = Path::new("/var/lib/bot/sessions.db");
        assert_eq!(
            backup_target(db, "backup-2026-11-24.db"),
            Ok(PathBuf::from("/var/lib/bot/backup-2026-11-24.db"))
        );
        assert_eq!(
            backup_target(Path::new("sessions.db"), "b.db"),
            Ok(PathBuf::from("./b.db"))
        );
        let long = "a".repeat(MAX_BACKUP_NAME);
        assert!(backup_target(db, &long).is_ok());
        for bad in [
            "",
            "../x.db",
            "/tmp/x.db",
            "a/b.db",
            ".hidden",
            "..",
            "-x",
            "a b",
            "x\\y",
            "é.db",
            "sessions.db",
            "sessions.db-wal",
            "sessions.db-shm",
            "sessions.db-journal",
            &format!("{long}a"),
        ] {
            let err = backup_target(db, bad).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn a_backup_body_is_read_only_from_a_json_object() {
        let parse = |body: &str| serde_json::from_str::<JsonObject<BackupRequest>>(body);
        assert_eq!(parse(r#"{"name": "b.db"}"#).unwrap().0.name, "b.db");
        for not_an_object in [r#"["b.db"]"#, r#""b.db""#, "5", "null"] {
            let err = parse(not_an_object).unwrap_err().to_string();
            assert!(
                err.contains("expected a JSON object"),
                "{not_an_object}: {err}"
            );
        }
        let missing = parse("{}").unwrap_err().to_string();
        assert_eq!(missing, "missing field `name` at line 1 column 2");
        let unknown = parse(r#"{"name": "b.db", "x": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(unknown.starts_with("unknown field `x`"), "{unknown}");
    }

    #[test]
    fn a_job_id_in_a_path_is_letters_digits_and_dashes() {
        assert!(job_id("u123".into()).is_ok());
        assert!(job_id("compress--1001234".into()).is_ok());
        for bad in ["", "a:b", "u1 2", "x*", &"u".repeat(MAX_JOB_ID + 1)] {
            assert!(job_id(bad.to_string()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_error_answers_with_its_status_in_json() {
        let response = ApiError::bad_request("per_page must be between 1 and 500").error_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let unauthorized = ApiError::new(StatusCode::UNAUTHORIZED, "no").error_response();
        assert_eq!(
            unauthorized.headers().get(header::WWW_AUTHENTICATE),
            Some(&HeaderValue::from_static("Bearer"))
        );
    }

    fn params(pairs: &[(&str, &str)]) -> UsageParams {
        let encoded: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        web::Query::<UsageParams>::from_query(&encoded.join("&"))
            .unwrap()
            .into_inner()
    }

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn a_usage_report_defaults_to_the_30_days_ending_today_by_day() {
        let q = usage_query(&UsageParams::default(), date("2026-12-03")).unwrap();
        assert_eq!(
            q,
            UsageQuery {
                from: "2026-11-04".into(),
                to: "2026-12-03".into(),
                user: None,
                group_by: GroupBy::Day,
                page: Page::default(),
            }
        );
        let q = usage_query(
            &params(&[
                ("to", "2026-02-10"),
                ("user_id", "42"),
                ("group_by", "model"),
                ("page", "2"),
                ("per_page", "5"),
            ]),
            date("2026-12-03"),
        )
        .unwrap();
        assert_eq!(
            (q.from.as_str(), q.to.as_str(), q.user, q.group_by),
            ("2026-01-12", "2026-02-10", Some(UserId(42)), GroupBy::Model)
        );
        assert_eq!(q.page, Page::new(Some(2), Some(5)).unwrap());
    }

    #[test]
    fn a_usage_report_takes_at_most_366_days_in_order() {
        let today = date("2026-12-03");
        let leap = params(&[("from", "2024-01-01"), ("to", "2024-12-31")]);
        assert!(usage_query(&leap, today).is_ok(), "a leap year: 366 days");
        let one = params(&[("from", "2026-12-03"), ("to", "2026-12-03")]);
        assert!(usage_query(&one, today).is_ok());
        for (from, to) in [("2024-01-01", "2025-01-01"), ("2026-12-04", "2026-12-03")] {
            let err = usage_query(&params(&[("from", from), ("to", to)]), today).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{from}..{to}");
        }
    }

    #[test]
    fn a_bad_date_user_grouping_or_page_is_a_400_that_names_it() {
        let today = date("2026-12-03");
        for (name, value, says) in [
            ("from", "2026-2-01", "from must be a date"),
            ("to", "2026-02-30", "to must be a date"),
            ("to", "20261203", "to must be a date"),
            ("to", "+2026-12-0", "to must be a date"),
            ("from", "yesterday", "from must be a date"),
            ("user_id", "0", "user_id must be"),
            ("user_id", "-5", "user_id must be"),
            ("user_id", "abc", "user_id must be"),
            ("group_by", "chat", "group_by must be"),
            ("group_by", "", "group_by must be"),
            ("per_page", "0", "per_page must be"),
            ("page", "0", "page must be"),
        ] {
            let err = usage_query(&params(&[(name, value)]), today).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{name}={value}");
            assert!(
                err.message.starts_with(says),
                "{name}={value}: {}",
                err.message
            );
        }
    }
}
