//! The fake's HTTP side: every request enters at [`handle`] (`/bot<token>/<method>`), meets its
//! queued fault if there is one, and goes to one handler per Bot API method, each checking its
//! parameters and answering as Telegram documents it.

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::callbacks;
use super::faults::{bad_gateway, Effect};
use super::files;
use super::state::{Shared, StoredMessage};
use super::text::render;
use super::webhook;
use super::wire::{bot_user, envelope, parse_params, ApiError, ApiResult, Params};
use super::{lock, unix_now, ApiCall, EditedMessage, Fault, GetUpdatesCall, SentMessage};

/// `getUpdates` `timeout` is clamped to this many seconds by the real server (tdlib's
/// `LONG_POLL_MAX_TIMEOUT`).
const MAX_LONG_POLL_SECS: u64 = 50;

/// The 409 of a `getUpdates` ended by a newer one.
const CONFLICT_OTHER_POLLER: &str =
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running";
/// The 409 of `getUpdates` while a webhook is set.
const CONFLICT_WEBHOOK: &str =
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
/// The 400 (after "Bad Request: ") of an edit that changes nothing.
pub(super) const NOT_MODIFIED: &str = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

/// Actions `sendChatAction` accepts.
const CHAT_ACTIONS: &[&str] = &[
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
];

/// Every request lands here: `/bot<token>/<method>` with params from the query string and a
/// JSON or form body, like the real server.
pub(super) async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    if let Some(rest) = req.path().strip_prefix("/file/bot") {
        // Faults queued for `download` hit the file server as they would the Bot API.
        let fault = lock(&shared.state).take_fault("download");
        match fault.map(Fault::effect) {
            None => {}
            Some(Effect::Delay(duration)) => tokio::time::sleep(duration).await,
            Some(Effect::BadGateway) => return bad_gateway(),
            Some(Effect::Refuse(err)) => return envelope(Err(err)),
        }
        return files::download(&shared, rest);
    }
    let Some((token, method)) = req
        .path()
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return envelope(Err(ApiError::new(404, "Not Found")));
    };
    let method = method.to_string();
    // Real tokens are `<bot id>:<secret>`; a malformed one is not even routed.
    let well_formed = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !secret.is_empty()
    });
    if !well_formed {
        return envelope(Err(ApiError::new(404, "Not Found")));
    }
    let params = match parse_params(&req, &body) {
        Ok(params) => params,
        Err(err) => return finish(&shared, &method, Value::Null, Err(err)),
    };
    // Copied only to be recorded: a benchmark with recording off skips the copy.
    let params_value = if shared.recording.load(Ordering::Relaxed) {
        Value::Object(params.0.clone())
    } else {
        Value::Null
    };
    if token != shared.token {
        return finish(
            &shared,
            &method,
            params_value,
            Err(ApiError::new(401, "Unauthorized")),
        );
    }

    let fault = lock(&shared.state).take_fault(&method.to_ascii_lowercase());
    match fault.map(Fault::effect) {
        None => {}
        Some(Effect::Delay(duration)) => tokio::time::sleep(duration).await,
        Some(Effect::BadGateway) => {
            record_call(&shared, &method, params_value, 502);
            return bad_gateway();
        }
        Some(Effect::Refuse(err)) => return finish(&shared, &method, params_value, Err(err)),
    }

    if let Err(err) = callbacks::check_markup(&method.to_ascii_lowercase(), &params) {
        return finish(&shared, &method, params_value, Err(err));
    }
    let result = match method.to_ascii_lowercase().as_str() {
        "getupdates" => get_updates(&shared, &params).await,
        "getme" => Ok(bot_user(&shared)),
        "sendmessage" => send_message(&shared, &params),
        "editmessagetext" => edit_message_text(&shared, &params),
        "deletemessage" => delete_message(&shared, &params),
        "sendchataction" => send_chat_action(&shared, &params),
        "setmycommands" => set_my_commands(&shared, &params),
        "getmycommands" => Ok(Value::Array(lock(&shared.state).commands.clone())),
        "deletewebhook" => webhook::delete_webhook(&shared, &params),
        "setwebhook" => webhook::set_webhook(&shared, &params),
        "getwebhookinfo" => webhook::get_webhook_info(&shared),
        "getfile" => files::get_file(&shared, &params),
        "editmessagereplymarkup" => callbacks::edit_message_reply_markup(&shared, &params),
        "answercallbackquery" => callbacks::answer_callback_query(&shared, &params),
        _ => Err(ApiError::new(404, "Not Found")),
    };
    let result = callbacks::after(&shared, &method.to_ascii_lowercase(), &params, result);
    finish(&shared, &method, params_value, result)
}

/// Records the call with the status it gets, then answers it.
fn finish(shared: &Shared, method: &str, params: Value, result: ApiResult) -> HttpResponse {
    let status = match &result {
        Ok(_) => 200,
        Err(err) => err.status,
    };
    record_call(shared, method, params, status);
    envelope(result)
}

/// Counts the call (and keeps it while recording is on), then wakes the test-side waiters.
fn record_call(shared: &Shared, method: &str, params: Value, status: u16) {
    {
        let mut st = lock(&shared.state);
        st.call_count += 1;
        if shared.recording.load(Ordering::Relaxed) {
            st.calls.push(ApiCall {
                method: method.to_string(),
                params,
                status,
            });
        }
    }
    shared.changed.notify_waiters();
}

/// Long polling with Telegram's semantics: confirm below `offset`, answer at once when updates
/// are pending, else wait up to `timeout` s; a newer `getUpdates` ends this one with 409.
async fn get_updates(shared: &Shared, params: &Params) -> ApiResult {
    let offset = params.int("offset")?;
    // tdlib clamps rather than rejects out-of-range values.
    let limit = params.int("limit")?.unwrap_or(100).clamp(1, 100);
    let limit = usize::try_from(limit).unwrap_or(100);
    let timeout = params.int("timeout")?.unwrap_or(0).max(0);
    let timeout = u64::try_from(timeout).unwrap_or(0).min(MAX_LONG_POLL_SECS);
    let allowed_updates = match params.json("allowed_updates")? {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect::<Vec<_>>(),
        ),
        Some(_) => {
            return Err(ApiError::bad_request(
                "can't parse allowed_updates JSON array",
            ))
        }
    };

    let generation = {
        let mut st = lock(&shared.state);
        st.get_updates_count += 1;
        if shared.recording.load(Ordering::Relaxed) {
            st.get_updates_calls.push(GetUpdatesCall {
                offset,
                limit,
                timeout,
                allowed_updates: allowed_updates.clone(),
            });
        }
        if st.webhook.is_set() {
            return Err(ApiError::new(409, CONFLICT_WEBHOOK));
        }
        if let Some(list) = allowed_updates {
            st.allowed_updates = Some(list);
        }
        match offset {
            Some(offset) if offset > 0 => {
                st.pending
                    .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                st.confirmed_below = st.confirmed_below.max(offset);
            }
            Some(offset) if offset < 0 => {
                // "-N": keep only the last N updates, forget the rest.
                let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
                let drop_count = st.pending.len().saturating_sub(keep);
                st.pending.drain(..drop_count);
            }
            _ => {}
        }
        st.poll_generation += 1;
        st.poll_generation
    };
    // Wake an older waiting poll so it notices it was replaced, and test-side waiters that
    // watch `get_updates_calls` (the call is recorded in `calls` only when it is answered).
    shared.updates_changed.notify_waiters();
    shared.changed.notify_waiters();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut timed_out = false;
    loop {
        let mut notified = pin!(shared.updates_changed.notified());
        notified.as_mut().enable();
        {
            let st = lock(&shared.state);
            if st.poll_generation != generation {
                return Err(ApiError::new(409, CONFLICT_OTHER_POLLER));
            }
            if !st.pending.is_empty() || timeout == 0 || timed_out {
                return Ok(Value::Array(
                    st.pending.iter().take(limit).cloned().collect(),
                ));
            }
        }
        timed_out = tokio::time::timeout_at(deadline, notified).await.is_err();
    }
}

/// `sendMessage`: text checked like Telegram (parse mode, trimming, length), the chat known, a
/// reply target present unless `allow_sending_without_reply`, a `message_thread_id` naming a topic
/// of the forum; the flood limit applies. A message goes into the topic it names, else into the
/// topic of the message it replies to (as on Telegram), else into the chat (a forum's General).
fn send_message(shared: &Shared, params: &Params) -> ApiResult {
    let mut st = lock(&shared.state);
    let chat_id = params.chat_id(&st)?;
    let named_topic = st
        .topic_in(chat_id, params.int("message_thread_id")?)
        .map_err(|e| ApiError::bad_request(&e))?;
    let (text, parse_mode, rendered) = render(params, "message is too long")?;
    let reply_parameters = params.json("reply_parameters")?;
    let reply_to = match &reply_parameters {
        Some(rp) => rp["message_id"].as_i64(),
        None => params.int("reply_to_message_id")?,
    };
    let allow_without_reply = params.bool("allow_sending_without_reply")
        || reply_parameters
            .as_ref()
            .is_some_and(|rp| rp["allow_sending_without_reply"].as_bool() == Some(true));
    let reply_target = match reply_to {
        Some(id) => match st.chats.get(&chat_id).and_then(|c| c.messages.get(&id)) {
            Some(m) => Some((id, m.plain.clone(), m.from_bot, m.thread)),
            None if allow_without_reply => None,
            None => return Err(ApiError::bad_request("message to be replied not found")),
        },
        None => None,
    };
    let thread = named_topic.or(reply_target.as_ref().and_then(|r| r.3));
    st.check_open(chat_id, thread)
        .map_err(|e| ApiError::bad_request(&e))?;
    st.check_rate(chat_id)?;
    let chat = st.chat(chat_id);
    let message_id = chat.take_message_id();
    let chat_json = chat.user.clone();
    chat.messages.insert(
        message_id,
        StoredMessage {
            from_bot: true,
            from: None,
            plain: rendered.plain.clone(),
            entities: rendered.entities.clone(),
            thread,
            topic_start: None,
        },
    );
    let position = st.sent.len();
    st.sent_by_chat.entry(chat_id).or_default().push(position);
    st.sent.push(SentMessage {
        chat_id,
        message_id,
        text,
        parse_mode,
        reply_to: reply_target.as_ref().map(|r| r.0),
        thread,
        plain: rendered.plain.clone(),
        at: Instant::now(),
    });
    st.chat_touched(chat_id);
    let mut message = json!({
        "message_id": message_id,
        "from": bot_user(shared),
        "chat": chat_json,
        "date": unix_now(),
        "text": rendered.plain,
    });
    if !rendered.entities.is_empty() {
        message["entities"] = Value::Array(rendered.entities);
    }
    if let Some(thread) = thread {
        message["message_thread_id"] = json!(thread);
        message["is_topic_message"] = json!(true);
    }
    if let Some((id, plain, from_bot, _)) = reply_target {
        message["reply_to_message"] = json!({
            "message_id": id,
            "chat": message["chat"].clone(),
            "date": unix_now(),
            "text": plain,
            "from": if from_bot { bot_user(shared) } else { message["chat"].clone() },
        });
    }
    Ok(message)
}

/// `editMessageText`: only the bot's own messages, "not modified" when nothing changes; the flood
/// limit applies as to sends.
fn edit_message_text(shared: &Shared, params: &Params) -> ApiResult {
    let mut st = lock(&shared.state);
    if params.0.contains_key("inline_message_id") {
        return Err(ApiError::bad_request(
            "inline messages are not supported by this fake",
        ));
    }
    let chat_id = params.chat_id(&st)?;
    let message_id = params
        .int("message_id")?
        .ok_or_else(|| ApiError::bad_request("message identifier is not specified"))?;
    let (text, parse_mode, rendered) = render(params, "MESSAGE_TOO_LONG")?;
    let chat = st
        .chats
        .get(&chat_id)
        .ok_or_else(|| ApiError::bad_request("chat not found"))?;
    let chat_json = chat.user.clone();
    let stored = chat
        .messages
        .get(&message_id)
        .ok_or_else(|| ApiError::bad_request("message to edit not found"))?;
    if !stored.from_bot {
        return Err(ApiError::bad_request("message can't be edited"));
    }
    if stored.plain == rendered.plain && stored.entities == rendered.entities {
        return Err(ApiError::bad_request(NOT_MODIFIED));
    }
    st.check_rate(chat_id)?;
    if let Some(m) = st.chat(chat_id).messages.get_mut(&message_id) {
        m.plain = rendered.plain.clone();
        m.entities = rendered.entities.clone();
    }
    let position = st.edits.len();
    st.edits_by_chat.entry(chat_id).or_default().push(position);
    st.edits.push(EditedMessage {
        chat_id,
        message_id,
        text,
        parse_mode,
        plain: rendered.plain.clone(),
        at: Instant::now(),
    });
    st.chat_touched(chat_id);
    let mut message = json!({
        "message_id": message_id,
        "from": bot_user(shared),
        "chat": chat_json,
        "date": unix_now(),
        "edit_date": unix_now(),
        "text": rendered.plain,
    });
    if !rendered.entities.is_empty() {
        message["entities"] = Value::Array(rendered.entities);
    }
    Ok(message)
}

/// `deleteMessage`: a bot may delete its own messages (and, in private chats, any): `true`; a message that
/// does not exist: 400 "message to delete not found". Deleted messages are recorded.
fn delete_message(shared: &Shared, params: &Params) -> ApiResult {
    let mut st = lock(&shared.state);
    let chat_id = params.chat_id(&st)?;
    let message_id = params
        .int("message_id")?
        .ok_or_else(|| ApiError::bad_request("message identifier is not specified"))?;
    let removed = st.chat(chat_id).messages.remove(&message_id);
    if removed.is_none() {
        return Err(ApiError::bad_request("message to delete not found"));
    }
    st.deleted.push((chat_id, message_id));
    st.chat_touched(chat_id);
    Ok(json!(true))
}

/// `sendChatAction`: one of Telegram's actions, in a known chat (and in a topic of the forum, when
/// `message_thread_id` names one).
fn send_chat_action(shared: &Shared, params: &Params) -> ApiResult {
    let mut st = lock(&shared.state);
    let chat_id = params.chat_id(&st)?;
    let topic = st
        .topic_in(chat_id, params.int("message_thread_id")?)
        .map_err(|e| ApiError::bad_request(&e))?;
    st.check_open(chat_id, topic)
        .map_err(|e| ApiError::bad_request(&e))?;
    let action = params.string("action").unwrap_or_default();
    if action.is_empty() {
        return Err(ApiError::bad_request("action is empty"));
    }
    if !CHAT_ACTIONS.contains(&action.as_str()) {
        return Err(ApiError::bad_request("wrong parameter action in request"));
    }
    if shared.recording.load(Ordering::Relaxed) {
        st.chat_actions.push((chat_id, topic, action));
    }
    Ok(json!(true))
}

/// `setMyCommands`: up to 100 commands, names and descriptions checked like Telegram.
fn set_my_commands(shared: &Shared, params: &Params) -> ApiResult {
    let commands = match params.json("commands")? {
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::bad_request("can't parse commands JSON object")),
        None => return Err(ApiError::bad_request("parameter \"commands\" is required")),
    };
    if commands.len() > 100 {
        return Err(ApiError::bad_request("too many commands specified"));
    }
    for c in &commands {
        let command = c["command"].as_str().unwrap_or_default();
        let description = c["description"].as_str().unwrap_or_default();
        let valid_name = !command.is_empty()
            && command.len() <= 32
            && command
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name {
            return Err(ApiError::bad_request("BOT_COMMAND_INVALID"));
        }
        let described = (1..=256).contains(&description.chars().count());
        if !described {
            return Err(ApiError::bad_request("command description is empty"));
        }
    }
    lock(&shared.state).commands = commands;
    Ok(json!(true))
}
