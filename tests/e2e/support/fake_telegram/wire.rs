//! The Bot API's wire as the fake speaks it: request parameters (query string, JSON or form
//! body), the ok/error envelope with its `parameters`, and the users and chats of messages.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::state::{Shared, State};

/// Telegram's answer (after "Bad Request: ") to a call with the id of a group that became a
/// supergroup; `parameters.migrate_to_chat_id` carries the new id.
const CHAT_MIGRATED: &str = "group chat was upgraded to a supergroup chat";

/// Telegram's 403 (after "Forbidden: bot ") to a call with the id of a group the bot was kicked
/// from; the chat's type (`group` or `supergroup`) and " chat" follow.
const KICKED_FROM: &str = "was kicked from the";
/// Likewise, for a group the bot left (or was removed from without a ban).
const NOT_A_MEMBER_OF: &str = "is not a member of the";

/// Telegram's "Group" bot (@GroupAnonymousBot): the sender of a supergroup's service messages,
/// such as the first one of a supergroup made from a group.
const GROUP_ANONYMOUS_BOT_ID: i64 = 1_087_968_824;

/// A Bot API failure: becomes `{"ok":false,"error_code":..,"description":..}` with that status.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: u16,
    pub(super) description: String,
    /// `parameters.retry_after` (flood control).
    pub(super) retry_after: Option<u64>,
    /// `parameters.migrate_to_chat_id` (the chat became this supergroup).
    pub(super) migrate_to_chat_id: Option<i64>,
}

impl ApiError {
    pub(super) fn new(status: u16, description: impl Into<String>) -> ApiError {
        ApiError {
            status,
            description: description.into(),
            retry_after: None,
            migrate_to_chat_id: None,
        }
    }

    pub(super) fn migrated(to: i64) -> ApiError {
        ApiError {
            migrate_to_chat_id: Some(to),
            ..ApiError::bad_request(CHAT_MIGRATED)
        }
    }

    /// The 403 of a call to a group the bot is no longer in (`kind`: the chat's type).
    pub(super) fn removed(kicked: bool, kind: &str) -> ApiError {
        let why = if kicked { KICKED_FROM } else { NOT_A_MEMBER_OF };
        ApiError::new(403, format!("Forbidden: bot {why} {kind} chat"))
    }

    pub(super) fn bad_request(description: impl AsRef<str>) -> ApiError {
        ApiError::new(400, format!("Bad Request: {}", description.as_ref()))
    }

    pub(super) fn too_many_requests(retry_after: u64) -> ApiError {
        ApiError {
            status: 429,
            description: format!("Too Many Requests: retry after {retry_after}"),
            retry_after: Some(retry_after),
            migrate_to_chat_id: None,
        }
    }
}

pub(super) type ApiResult = Result<Value, ApiError>;

/// The answer as Telegram writes it: `{"ok":true,"result":..}`, or the error envelope with the
/// error's status and, when there are any, its `parameters`.
pub(super) fn envelope(result: ApiResult) -> HttpResponse {
    match result {
        Ok(result) => HttpResponse::Ok().json(json!({ "ok": true, "result": result })),
        Err(err) => {
            let mut body = json!({
                "ok": false,
                "error_code": err.status,
                "description": err.description,
            });
            let mut parameters = Map::new();
            if let Some(retry_after) = err.retry_after {
                parameters.insert("retry_after".into(), json!(retry_after));
            }
            if let Some(to) = err.migrate_to_chat_id {
                parameters.insert("migrate_to_chat_id".into(), json!(to));
            }
            if !parameters.is_empty() {
                body["parameters"] = Value::Object(parameters);
            }
            let status =
                StatusCode::from_u16(err.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            HttpResponse::build(status).json(body)
        }
    }
}

/// Request parameters, merged from the query string and the body (the body wins).
#[derive(Debug, Default)]
pub(super) struct Params(pub(super) Map<String, Value>);

pub(super) fn parse_params(req: &HttpRequest, body: &[u8]) -> Result<Params, ApiError> {
    let mut map = Map::new();
    let add_form = |text: &str, map: &mut Map<String, Value>| -> Result<(), ApiError> {
        let pairs = web::Query::<Vec<(String, String)>>::from_query(text)
            .map_err(|_| ApiError::bad_request("can't parse parameters"))?;
        for (k, v) in pairs.into_inner() {
            map.insert(k, Value::String(v));
        }
        Ok(())
    };
    add_form(req.query_string(), &mut map)?;
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("request body is not UTF-8"))?;
    if text.trim().is_empty() {
        // nothing in the body
    } else if content_type.starts_with("application/json") || text.trim_start().starts_with('{') {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(obj)) => map.extend(obj),
            _ => return Err(ApiError::bad_request("can't parse JSON object")),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        add_form(text, &mut map)?;
    } else {
        return Err(ApiError::bad_request(format!(
            "unsupported content type {content_type:?}"
        )));
    }
    // Telegram treats null like an absent parameter.
    map.retain(|_, v| !v.is_null());
    Ok(Params(map))
}

impl Params {
    /// An integer given as a JSON number or a numeric string (both accepted by Telegram).
    pub(super) fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid {name} specified"))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid {name} specified"))),
            Some(_) => Err(ApiError::bad_request(format!("invalid {name} specified"))),
        }
    }

    pub(super) fn string(&self, name: &str) -> Option<String> {
        match self.0.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        }
    }

    pub(super) fn bool(&self, name: &str) -> bool {
        match self.0.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.as_str(), "true" | "True" | "1"),
            Some(Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
            _ => false,
        }
    }

    /// A structured parameter: JSON in a JSON body, or a JSON-serialized string in a form/query.
    pub(super) fn json(&self, name: &str) -> Result<Option<Value>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("can't parse {name} JSON object"))),
            Some(v) => Ok(Some(v.clone())),
        }
    }

    /// `chat_id` as Telegram checks it: required, not a group that became a supergroup, not a
    /// group the bot was removed from, and the chat must be known.
    pub(super) fn chat_id(&self, st: &State) -> Result<i64, ApiError> {
        match self.0.get("chat_id") {
            None => Err(ApiError::bad_request("chat_id is empty")),
            // `@channelusername`: we model private chats only.
            Some(Value::String(s)) if s.starts_with('@') => {
                Err(ApiError::bad_request("chat not found"))
            }
            Some(_) => {
                let id = self
                    .int("chat_id")
                    .map_err(|_| ApiError::bad_request("chat not found"))?
                    .ok_or_else(|| ApiError::bad_request("chat_id is empty"))?;
                if let Some(&to) = st.migrated.get(&id) {
                    Err(ApiError::migrated(to))
                } else if let Some(&kicked) = st.removed.get(&id) {
                    let kind = st.chats.get(&id).and_then(|c| c.user["type"].as_str());
                    Err(ApiError::removed(kicked, kind.unwrap_or("group")))
                } else if st.chats.contains_key(&id) {
                    Ok(id)
                } else {
                    Err(ApiError::bad_request("chat not found"))
                }
            }
        }
    }
}

/// The bot itself, as `getMe` and the `from` of its messages show it.
pub(super) fn bot_user(shared: &Shared) -> Value {
    json!({
        "id": shared.bot_id,
        "is_bot": true,
        "first_name": "Test Bot",
        "username": "test_bot",
        "can_join_groups": true,
        "can_read_all_group_messages": false,
        "supports_inline_queries": false,
    })
}

/// The `from` of a user's messages.
pub(super) fn user(user_id: i64) -> Value {
    json!({
        "id": user_id,
        "is_bot": false,
        "first_name": format!("User{user_id}"),
        "username": format!("user{user_id}"),
        "language_code": "en",
    })
}

/// The `from` of a user's messages, with the name the user chose (`username` optional, as on Telegram).
pub(super) fn named_user(user_id: i64, first_name: &str, username: Option<&str>) -> Value {
    let mut from = json!({
        "id": user_id,
        "is_bot": false,
        "first_name": first_name,
        "language_code": "en",
    });
    if let Some(username) = username {
        from["username"] = json!(username);
    }
    from
}

/// The `from` of a supergroup's service messages: Telegram's "Group" bot (@GroupAnonymousBot).
pub(super) fn group_anonymous_bot() -> Value {
    json!({
        "id": GROUP_ANONYMOUS_BOT_ID,
        "is_bot": true,
        "first_name": "Group",
        "username": "GroupAnonymousBot",
    })
}

/// The `chat` of a basic group's messages.
pub(super) fn group_chat(chat_id: i64, title: &str) -> Value {
    json!({
        "id": chat_id,
        "title": title,
        "type": "group",
        "all_members_are_administrators": false,
    })
}

/// The `chat` of a supergroup's messages.
pub(super) fn supergroup_chat(chat_id: i64, title: &str) -> Value {
    json!({ "id": chat_id, "title": title, "type": "supergroup" })
}

/// Sets a message's text with the entities Telegram finds in it: a leading `/command` gets its
/// `bot_command` entity, and every `@username` (5 to 32 letters, digits or `_`, not inside a word) a
/// `mention` entity; offsets and lengths in UTF-16 code units, as on Telegram.
pub(super) fn set_text(message: &mut Value, text: &str) {
    message["text"] = json!(text);
    let mut entities = Vec::new();
    if text.starts_with('/') {
        let command = text.split_whitespace().next().unwrap_or(text);
        entities.push(json!({
            "offset": 0,
            "length": command.encode_utf16().count(),
            "type": "bot_command",
        }));
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut units = 0;
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        if c == '@' && !previous.is_some_and(word) {
            let name: String = text[at + 1..].chars().take_while(|c| word(*c)).collect();
            if (5..=32).contains(&name.len()) {
                entities.push(json!({
                    "offset": units,
                    "length": name.len() + 1,
                    "type": "mention",
                }));
            }
        }
        units += c.len_utf16();
        previous = Some(c);
    }
    if !entities.is_empty() {
        message["entities"] = Value::Array(entities);
    }
}
