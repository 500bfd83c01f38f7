//! The admin API's answers as types: one `#[derive(Serialize)]` view per JSON object it sends, each built
//! from the row or reply it shows (`From<&Row>`), so that a change of a row type touches one place.
//!
//! The views borrow from what they show: they live only as long as it takes to write the answer.
//! `docs/api.md` describes every field; the tests at the end pin each view's JSON.

use crate::activity::{EndedJob, RunningJob};
use crate::actors::session_manager::{ChatDetail, ChatList, MessageList};
use crate::db::models::{AttachmentRow, ChatOverview, ChatRow, ChatStats, MessageRow, SummaryRow};
use crate::db::spending::{Figures, GroupKey, Totals, UsageGroup, UsageQuery, UsageReport};
use crate::ids::{ChatId, Conversation, JobId, TopicId};
use crate::paging::Page;
use crate::queue::{DeadJob, DeadPage, Priority};
use crate::usage::Price;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

// ---- Errors ------------------------------------------------------------------------------------------------

/// Every error answer: `{"error": ..., "status": N}`.
#[derive(Debug, Serialize)]
pub struct ErrorView<'a> {
    /// For people; a script matches on `status`.
    pub error: &'a str,
    /// The HTTP status code again, so a log of bodies alone still tells what happened.
    pub status: u16,
}

// ---- Sessions ----------------------------------------------------------------------------------------------

/// A chat's row as the session answers show it, without its system prompt (only one chat's answer has it).
#[derive(Debug, Serialize)]
pub struct ChatView<'a> {
    /// Telegram's chat id (negative for groups), the session's id in every path.
    id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    kind: &'a str,
    /// A group's name; `null` for a private chat.
    title: Option<&'a str>,
    /// The last 403 from Telegram for this chat (Unix seconds), so the operator sees who blocked the bot.
    blocked_at: Option<i64>,
    /// When the chat was first stored (Unix seconds).
    created_at: i64,
    /// When the chat last wrote to the bot (Unix seconds); the listing's order.
    updated_at: i64,
}

impl<'a> From<&'a ChatRow> for ChatView<'a> {
    fn from(chat: &'a ChatRow) -> Self {
        Self {
            id: chat.id.0,
            kind: &chat.kind,
            title: chat.title.as_deref(),
            blocked_at: chat.blocked_at,
            created_at: chat.created_at,
            updated_at: chat.updated_at,
        }
    }
}

/// One chat in `GET /api/sessions`: its row, its figures, its model and role.
#[derive(Debug, Serialize)]
pub struct OverviewView<'a> {
    /// The row's fields, at the same level as the figures.
    #[serde(flatten)]
    chat: ChatView<'a>,
    /// All stored messages, folded ones included (the sum of the next two).
    messages: i64,
    /// Stored messages from the user.
    user_messages: i64,
    /// Stored answers.
    assistant_messages: i64,
    /// The bot's own count over all stored messages.
    tokens: i64,
    /// What the model server reported since the last `/clear`.
    prompt_tokens: i64,
    /// What the model server reported since the last `/clear`.
    completion_tokens: i64,
    /// When its newest message was stored (Unix seconds); `null` if it has none.
    last_message_at: Option<i64>,
    /// The later of `last_message_at` and `updated_at`: one figure to sort or filter idle chats by.
    last_activity_at: i64,
    /// The main conversation's model (`/model`); `null` when it chose none and `AICHAT_MODEL` applies.
    model: Option<&'a str>,
    /// The main conversation's role (`/role`); `null` when it has none.
    role: Option<&'a str>,
    /// Photos its messages carried (since the last `/clear`).
    photos: i64,
    /// Documents (files) its messages carried.
    documents: i64,
}

impl<'a> From<&'a ChatOverview> for OverviewView<'a> {
    fn from(o: &'a ChatOverview) -> Self {
        Self {
            chat: ChatView::from(&o.chat),
            messages: o.user_messages + o.assistant_messages,
            user_messages: o.user_messages,
            assistant_messages: o.assistant_messages,
            tokens: o.tokens,
            prompt_tokens: o.prompt_tokens,
            completion_tokens: o.completion_tokens,
            last_message_at: o.last_message_at,
            last_activity_at: o.last_message_at.unwrap_or(0).max(o.chat.updated_at),
            model: o.model.as_deref(),
            role: o.role.as_deref(),
            photos: o.photos,
            documents: o.documents,
        }
    }
}

/// `GET /api/sessions`: a page of chats.
#[derive(Debug, Serialize)]
pub struct SessionsView<'a> {
    /// `page` and `per_page`, repeated so a script paging through needs no state of its own.
    #[serde(flatten)]
    page: Page,
    /// All chats, not only this page's.
    total: u64,
    /// This page's chats, the most recently active first.
    sessions: Vec<OverviewView<'a>>,
}

impl<'a> SessionsView<'a> {
    pub fn new(page: Page, list: &'a ChatList) -> Self {
        Self {
            page,
            total: list.total,
            sessions: list.chats.iter().map(OverviewView::from).collect(),
        }
    }
}

/// A chat's row in `GET /api/sessions/{chat_id}`: the row with its own system prompt, model and role.
#[derive(Debug, Serialize)]
pub struct SessionChatView<'a> {
    /// The fields every session answer shows.
    #[serde(flatten)]
    chat: ChatView<'a>,
    /// Set by `/system` (in a forum: in its General topic); `null` when the chat uses `SYSTEM_PROMPT`.
    system_prompt: Option<&'a str>,
    /// Chosen with `/model` (in a forum: in its General topic); `null` when the chat uses `AICHAT_MODEL`.
    model: Option<&'a str>,
    /// Taken with `/role` (in a forum: in its General topic); `null` when the chat has no role.
    role: Option<&'a str>,
}

impl<'a> From<&'a ChatDetail> for SessionChatView<'a> {
    fn from(detail: &'a ChatDetail) -> Self {
        Self {
            chat: ChatView::from(&detail.chat),
            system_prompt: detail.system_prompt.as_deref(),
            model: detail.model.as_deref(),
            role: detail.role.as_deref(),
        }
    }
}

/// A chat's figures, as `/stats` shows them.
#[derive(Debug, Serialize)]
pub struct StatsView {
    /// Stored messages from the user, folded ones included.
    user_messages: i64,
    /// Stored answers, folded ones included.
    assistant_messages: i64,
    /// The bot's own count over all stored messages.
    tokens: i64,
    /// What the model server reported since the last `/clear`.
    prompt_tokens: i64,
    /// What the model server reported since the last `/clear`.
    completion_tokens: i64,
    /// The oldest message's time (Unix seconds), `null` without messages.
    first_at: Option<i64>,
    /// The newest message's time (Unix seconds), `null` without messages.
    last_at: Option<i64>,
    /// Summaries made since the last `/clear`.
    compressions: i64,
    /// Photos sent since the last `/clear`.
    photos: i64,
    /// Documents (files) sent since the last `/clear`.
    documents: i64,
}

impl From<&ChatStats> for StatsView {
    fn from(s: &ChatStats) -> Self {
        Self {
            user_messages: s.user_messages,
            assistant_messages: s.assistant_messages,
            tokens: s.tokens,
            prompt_tokens: s.prompt_tokens,
            completion_tokens: s.completion_tokens,
            first_at: s.first_at,
            last_at: s.last_at,
            compressions: s.compressions,
            photos: s.photos,
            documents: s.documents,
        }
    }
}

/// The summary in use, by its size only (its text is in the messages listing).
#[derive(Debug, Serialize)]
pub struct SummarySizeView {
    /// Its row id, as in the messages listing's `summaries`.
    id: i32,
    /// The bot's count of it.
    tokens: i32,
    /// Its length in characters (not bytes).
    chars: usize,
    /// The first message id it covers (earlier summaries' ranges included).
    first_message_id: i32,
    /// The last message id it covers.
    last_message_id: i32,
    /// When it was made (Unix seconds).
    created_at: i64,
}

impl From<&SummaryRow> for SummarySizeView {
    fn from(s: &SummaryRow) -> Self {
        Self {
            id: s.id,
            tokens: s.tokens,
            chars: s.content.chars().count(),
            first_message_id: s.first_message_id,
            last_message_id: s.last_message_id,
            created_at: s.created_at,
        }
    }
}

/// `GET /api/sessions/{chat_id}`: one chat, its figures and its summary.
#[derive(Debug, Serialize)]
pub struct SessionView<'a> {
    /// The chat's row with its system prompt.
    session: SessionChatView<'a>,
    /// Its figures.
    stats: StatsView,
    /// The summary in use; `null` (not absent) when the chat was never compressed.
    summary: Option<SummarySizeView>,
    /// In a forum: the topics that have messages (each its own conversation, its figures included in
    /// `stats`); absent elsewhere.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    topics: Vec<i64>,
}

impl<'a> From<&'a ChatDetail> for SessionView<'a> {
    fn from(detail: &'a ChatDetail) -> Self {
        Self {
            session: SessionChatView::from(detail),
            stats: StatsView::from(&detail.stats),
            summary: detail.summary.as_ref().map(SummarySizeView::from),
            topics: detail.topics.iter().map(|t| t.0).collect(),
        }
    }
}

/// One stored message in the messages listing.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "message")]
pub struct MessageView<'a> {
    /// Its row id, the one the summaries' ranges refer to.
    id: i32,
    /// `user`, `assistant` or `system`.
    role: &'a str,
    /// The text as stored (an answer in Markdown, without its cut-off or "Stopped" note).
    content: &'a str,
    /// The bot's count, with the per-message overhead.
    tokens: i32,
    /// Its id in the Telegram chat (an answer's first part); `null` for an answer never delivered.
    telegram_message_id: Option<i64>,
    /// When it was stored (Unix seconds).
    created_at: i64,
    /// Folded into a summary: kept and shown, but no longer in the model's context.
    folded: bool,
    /// The forum topic it belongs to; absent outside topics.
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<i64>,
    /// What it carried besides text (a user's photos or document); absent when nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attachments: Vec<AttachmentView<'a>>,
}

/// A photo or document a message carried: Telegram's ids and what the sender said of it (the bytes are not
/// stored).
#[derive(Debug, Serialize)]
pub struct AttachmentView<'a> {
    /// `photo` or `document`.
    kind: &'a str,
    /// What Telegram fetches it by (for this bot).
    file_id: &'a str,
    /// A document's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    /// In bytes, when Telegram said.
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<i64>,
    /// A photo's pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<i32>,
}

impl<'a> From<&'a AttachmentRow> for AttachmentView<'a> {
    fn from(a: &'a AttachmentRow) -> Self {
        let pixels = |n: i32| Some(n).filter(|n| *n > 0);
        Self {
            kind: &a.kind,
            file_id: &a.file_id,
            name: a.name.as_deref(),
            size: a.size,
            width: pixels(a.width),
            height: pixels(a.height),
        }
    }
}

impl<'a> MessageView<'a> {
    /// `m`, with its attachments among `attachments`.
    fn new(m: &'a MessageRow, attachments: &'a [AttachmentRow]) -> Self {
        Self {
            attachments: attachments
                .iter()
                .filter(|a| a.message_id == m.id)
                .map(AttachmentView::from)
                .collect(),
            ..Self::from(m)
        }
    }
}

impl<'a> From<&'a MessageRow> for MessageView<'a> {
    fn from(m: &'a MessageRow) -> Self {
        Self {
            attachments: Vec::new(),
            id: m.id,
            role: &m.role,
            content: &m.content,
            tokens: m.tokens,
            telegram_message_id: m.telegram_message_id.map(|id| id.0),
            created_at: m.created_at,
            folded: m.folded,
            topic: m.conversation().topic.map(|t| t.0),
        }
    }
}

/// One summary in the messages listing.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename = "summary")]
pub struct SummaryView<'a> {
    /// Its row id.
    id: i32,
    /// Its text.
    content: &'a str,
    /// The bot's count of it.
    tokens: i32,
    /// The first message id it covers (earlier summaries' ranges included).
    first_message_id: i32,
    /// The last message id it covers.
    last_message_id: i32,
    /// When it was made (Unix seconds).
    created_at: i64,
    /// The newest summary (of its topic) is the one the model sees; the others are kept for the record.
    in_use: bool,
    /// The forum topic it summarises; absent outside topics.
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<i64>,
}

impl<'a> SummaryView<'a> {
    fn new(s: &'a SummaryRow, in_use: bool) -> Self {
        Self {
            id: s.id,
            content: &s.content,
            tokens: s.tokens,
            first_message_id: s.first_message_id,
            last_message_id: s.last_message_id,
            created_at: s.created_at,
            in_use,
            topic: Conversation::from_key(s.chat_id, s.topic_id)
                .topic
                .map(|t| t.0),
        }
    }
}

/// `GET /api/sessions/{chat_id}/messages`: a page of messages and all the summaries.
#[derive(Debug, Serialize)]
pub struct MessagesView<'a> {
    /// The chat, repeated so a saved answer says whose messages these are.
    session_id: i64,
    /// `page` and `per_page`, repeated so a script paging through needs no state of its own.
    #[serde(flatten)]
    page: Page,
    /// All the chat's messages, not only this page's.
    total: u64,
    /// This page's messages, oldest first.
    messages: Vec<MessageView<'a>>,
    /// All summaries (not paged: a chat has few), oldest first; the last one (of each topic) is in use.
    summaries: Vec<SummaryView<'a>>,
}

impl<'a> MessagesView<'a> {
    pub fn new(chat_id: ChatId, page: Page, list: &'a MessageList) -> Self {
        // The newest summary of each conversation (topic) is in use.
        let mut newest: HashMap<TopicId, i32> = HashMap::new();
        for s in &list.summaries {
            newest.insert(s.topic_id, s.id);
        }
        Self {
            session_id: chat_id.0,
            page,
            total: list.total,
            messages: list
                .messages
                .iter()
                .map(|m| MessageView::new(m, &list.attachments))
                .collect(),
            summaries: list
                .summaries
                .iter()
                .map(|s| SummaryView::new(s, newest.get(&s.topic_id) == Some(&s.id)))
                .collect(),
        }
    }
}

/// `DELETE /api/sessions/{chat_id}` done.
#[derive(Debug, Serialize)]
pub struct SessionDeletedView {
    /// Always `true`: a script can check the body alone.
    deleted: bool,
    /// The chat that is gone.
    id: i64,
}

impl From<ChatId> for SessionDeletedView {
    fn from(chat_id: ChatId) -> Self {
        Self {
            deleted: true,
            id: chat_id.0,
        }
    }
}

// ---- Activity, queue and dead letters ----------------------------------------------------------------------

/// `GET /api/activity`: what the workers do now and did lately.
#[derive(Debug, Serialize)]
pub struct ActivityView {
    /// The jobs running now, longest first.
    running: Vec<RunningJob>,
    /// The jobs that ended lately, newest first.
    recent: Vec<EndedJob>,
}

impl From<(Vec<RunningJob>, Vec<EndedJob>)> for ActivityView {
    fn from((running, recent): (Vec<RunningJob>, Vec<EndedJob>)) -> Self {
        Self { running, recent }
    }
}

/// One dead-lettered job. Any field but `id` is `null` when its record is damaged or missing.
#[derive(Debug, Serialize)]
pub struct DeadView<'a> {
    /// The job id, the one the retry and drop paths take.
    id: &'a str,
    /// Why it was dead-lettered.
    reason: Option<&'a str>,
    /// When (Unix ms).
    dead_at_ms: Option<i64>,
    /// The attempt it died in.
    attempts: Option<u32>,
    /// `high`, `default` or `low`.
    priority: Option<Priority>,
    /// The chat whose order it was in; `null` for a compression job.
    chat: Option<i64>,
    /// When it was queued or re-queued (Unix ms).
    enqueued_at_ms: Option<i64>,
    /// Why its latest attempt failed, if it failed.
    last_error: Option<&'a str>,
    /// Later messages of the chat merged into it; they go with it.
    merged_messages: usize,
    /// The job as JSON; the raw text as a string when it is not valid JSON (which can be why it died).
    payload: Option<Value>,
}

impl<'a> From<&'a DeadJob> for DeadView<'a> {
    fn from(job: &'a DeadJob) -> Self {
        Self {
            id: &job.id.0,
            reason: job.reason.as_deref(),
            dead_at_ms: job.dead_at_ms,
            attempts: job.attempts,
            priority: job.priority,
            chat: job.chat.map(|c| c.0),
            enqueued_at_ms: job.enqueued_at_ms,
            last_error: job.last_error.as_deref(),
            merged_messages: job.merged,
            payload: job.payload.as_deref().map(|raw| {
                serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
            }),
        }
    }
}

/// `GET /api/dead`: a page of dead jobs.
#[derive(Debug, Serialize)]
pub struct DeadListView<'a> {
    /// `page` and `per_page`, repeated so a script paging through needs no state of its own.
    #[serde(flatten)]
    page: Page,
    /// All dead jobs, not only this page's.
    total: u64,
    /// This page's jobs, newest first.
    jobs: Vec<DeadView<'a>>,
}

impl<'a> DeadListView<'a> {
    pub fn new(page: Page, dead: &'a DeadPage) -> Self {
        Self {
            page,
            total: dead.total,
            jobs: dead.jobs.iter().map(DeadView::from).collect(),
        }
    }
}

/// `POST /api/dead/{id}/retry` done.
#[derive(Debug, Serialize)]
pub struct RequeuedView<'a> {
    /// Always `true`: a script can check the body alone.
    requeued: bool,
    /// The job put back.
    id: &'a str,
    /// `ready` (it can run now) or `waiting` (behind its chat's job).
    state: &'static str,
}

impl<'a> RequeuedView<'a> {
    pub fn new(id: &'a JobId, state: &'static str) -> Self {
        Self {
            requeued: true,
            id: &id.0,
            state,
        }
    }
}

/// `DELETE /api/dead/{id}` done.
#[derive(Debug, Serialize)]
pub struct DroppedView<'a> {
    /// Always `true`: a script can check the body alone.
    dropped: bool,
    /// The job forgotten.
    id: &'a str,
}

impl<'a> From<&'a JobId> for DroppedView<'a> {
    fn from(id: &'a JobId) -> Self {
        Self {
            dropped: true,
            id: &id.0,
        }
    }
}

// ---- Backup ------------------------------------------------------------------------------------------------

/// `POST /api/backup` done.
#[derive(Debug, Serialize)]
pub struct BackupView<'a> {
    /// The file name asked for.
    name: &'a str,
    /// Where the copy is, absolute, so the operator can move it without guessing the state directory.
    path: String,
    /// Its size.
    bytes: u64,
}

impl<'a> BackupView<'a> {
    pub fn new(name: &'a str, path: &std::path::Path, bytes: u64) -> Self {
        Self {
            name,
            path: path.display().to_string(),
            bytes,
        }
    }
}

// ---- Usage -------------------------------------------------------------------------------------------------

/// A usage row's key, as a field of its own: `day` (`YYYY-MM-DD`), `user_id` or `model`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum UsageKeyView<'a> {
    Day(&'a str),
    UserId(i64),
    Model(&'a str),
}

impl<'a> From<&'a GroupKey> for UsageKeyView<'a> {
    fn from(key: &'a GroupKey) -> Self {
        match key {
            GroupKey::Day(day) => Self::Day(day),
            GroupKey::User(user) => Self::UserId(user.0),
            GroupKey::Model(model) => Self::Model(model),
        }
    }
}

/// Requests and tokens of some models, with what they cost.
#[derive(Debug, Serialize)]
pub struct UsageFiguresView {
    /// Model requests made.
    requests: i64,
    /// Tokens sent to the model.
    prompt_tokens: i64,
    /// Tokens the model answered with.
    completion_tokens: i64,
    /// The two together: what limits count and the lists sort by.
    tokens: i64,
    /// How many of `tokens` are the bot's own count (the server reported no usage), not the server's.
    estimated_tokens: i64,
    /// In the prices' currency (aichat's: USD), for the models whose price is known (`MODEL_PRICES`, else the
    /// server's list); `null` when none of them has one.
    cost: Option<f64>,
    /// `true` when `cost` leaves out some models whose price is unknown.
    cost_partial: bool,
}

impl UsageFiguresView {
    /// Sums `parts` (a model and its figures each), pricing each model with `price`. A model without
    /// requests here takes no part (its price does not matter).
    fn new<'m>(
        parts: impl IntoIterator<Item = (&'m str, &'m Figures)>,
        price: &dyn Fn(&str) -> Option<Price>,
    ) -> Self {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let mut totals = Totals::default();
        let (mut estimated, mut cost, mut unpriced) = (0, None, false);
        for (model, figures) in parts {
            let t = &figures.totals;
            if t.requests == 0 && t.tokens() == 0 {
                continue;
            }
            totals.requests += t.requests;
            totals.prompt_tokens += t.prompt_tokens;
            totals.completion_tokens += t.completion_tokens;
            estimated += figures.estimated_tokens;
            match price(model) {
                Some(p) => {
                    let c = p.cost(count(t.prompt_tokens), count(t.completion_tokens));
                    cost = Some(cost.unwrap_or(0.0) + c);
                }
                None => unpriced = true,
            }
        }
        Self {
            requests: totals.requests,
            prompt_tokens: totals.prompt_tokens,
            completion_tokens: totals.completion_tokens,
            tokens: totals.tokens(),
            estimated_tokens: estimated,
            cost,
            cost_partial: cost.is_some() && unpriced,
        }
    }
}

/// One row of `GET /api/usage`: its key, its users' answers, and the bot's summaries apart.
#[derive(Debug, Serialize)]
pub struct UsageRowView<'a> {
    /// `day`, `user_id` or `model`, as grouped.
    #[serde(flatten)]
    key: UsageKeyView<'a>,
    /// The answers to users (what limits and `/usage` count), at the same level as the key.
    #[serde(flatten)]
    answers: UsageFiguresView,
    /// The Compressor's summary requests in this day or model (always 0 in a user's row: they are the
    /// bot's own, not a user's); their cost is in the report's `summaries`.
    summary_requests: i64,
    /// Their tokens, prompt and completion together.
    summary_tokens: i64,
}

impl<'a> UsageRowView<'a> {
    fn new(group: &'a UsageGroup, price: &dyn Fn(&str) -> Option<Price>) -> Self {
        let answers = group
            .models
            .iter()
            .map(|(model, f)| (model.as_str(), &f.answers));
        let summaries = group.models.values().map(|f| &f.summaries.totals);
        Self {
            key: UsageKeyView::from(&group.key),
            answers: UsageFiguresView::new(answers, price),
            summary_requests: summaries.clone().map(|t| t.requests).sum(),
            summary_tokens: summaries.map(Totals::tokens).sum(),
        }
    }
}

/// `GET /api/usage`: a page of a usage report, with what it covers.
#[derive(Debug, Serialize)]
pub struct UsageReportView<'a> {
    /// `page` and `per_page`, repeated so a script paging through needs no state of its own.
    #[serde(flatten)]
    page: Page,
    /// All rows, not only this page's.
    total: u64,
    /// The first day counted (`YYYY-MM-DD`, UTC), the default filled in.
    from: &'a str,
    /// The last day counted, included.
    to: &'a str,
    /// `day`, `user` or `model`.
    group_by: &'static str,
    /// The one user counted; `null` for everyone.
    user_id: Option<i64>,
    /// All the summaries from `from` to `to` (none when the report is one user's: they are no user's),
    /// priced: with the rows of a `user` report, the whole bill.
    summaries: UsageFiguresView,
    /// This page's rows: by day oldest first, by user or model the most tokens first.
    rows: Vec<UsageRowView<'a>>,
}

impl<'a> UsageReportView<'a> {
    pub fn new(
        query: &'a UsageQuery,
        report: &'a UsageReport,
        price: &dyn Fn(&str) -> Option<Price>,
    ) -> Self {
        let summaries = report.summaries.iter().map(|(m, f)| (m.as_str(), f));
        Self {
            page: query.page,
            total: report.total,
            from: &query.from,
            to: &query.to,
            group_by: query.group_by.as_str(),
            user_id: query.user.map(|u| u.0),
            summaries: UsageFiguresView::new(summaries, price),
            rows: report
                .groups
                .iter()
                .map(|g| UsageRowView::new(g, price))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::spending::{GroupBy, ModelFigures};
    use crate::ids::{MessageId, UserId};
    use serde_json::json;

    fn to_json(view: &impl Serialize) -> Value {
        serde_json::to_value(view).unwrap()
    }

    fn chat() -> ChatRow {
        ChatRow {
            id: ChatId(-1001),
            kind: "group".into(),
            title: Some("Team".into()),
            created_at: 100,
            updated_at: 200,
            blocked_at: None,
        }
    }

    fn summary(id: i32) -> SummaryRow {
        SummaryRow {
            id,
            chat_id: ChatId(-1001),
            content: "résumé".into(),
            tokens: 9,
            first_message_id: 1,
            last_message_id: 4,
            created_at: 300,
            topic_id: TopicId(0),
        }
    }

    fn page() -> Page {
        Page::new(Some(2), Some(10)).unwrap()
    }

    #[test]
    fn an_error_is_its_message_and_its_status() {
        let view = ErrorView {
            error: "no such endpoint",
            status: 404,
        };
        assert_eq!(
            to_json(&view),
            json!({"error": "no such endpoint", "status": 404})
        );
    }

    #[test]
    fn a_chat_shows_its_row_without_the_system_prompt() {
        let mut row = chat();
        row.blocked_at = Some(150);
        assert_eq!(
            to_json(&ChatView::from(&row)),
            json!({"id": -1001, "kind": "group", "title": "Team", "blocked_at": 150,
                   "created_at": 100, "updated_at": 200})
        );
    }

    #[test]
    fn an_overview_adds_the_figures_and_the_last_activity_to_the_row() {
        let overview = ChatOverview {
            chat: ChatRow {
                title: None,
                ..chat()
            },
            user_messages: 2,
            assistant_messages: 1,
            tokens: 50,
            prompt_tokens: 70,
            completion_tokens: 20,
            last_message_at: Some(250),
            model: None,
            role: None,
            photos: 2,
            documents: 1,
        };
        assert_eq!(
            to_json(&OverviewView::from(&overview)),
            json!({"id": -1001, "kind": "group", "title": null, "blocked_at": null,
                   "created_at": 100, "updated_at": 200,
                   "messages": 3, "user_messages": 2, "assistant_messages": 1, "tokens": 50,
                   "prompt_tokens": 70, "completion_tokens": 20,
                   "last_message_at": 250, "last_activity_at": 250, "model": null, "role": null,
                   "photos": 2, "documents": 1})
        );
        let idle = ChatOverview {
            last_message_at: None,
            ..overview
        };
        let json = to_json(&OverviewView::from(&idle));
        assert_eq!(
            (&json["last_message_at"], &json["last_activity_at"]),
            (&Value::Null, &json!(200))
        );
    }

    #[test]
    fn a_sessions_page_repeats_its_page_and_total() {
        let list = ChatList {
            total: 11,
            chats: vec![],
        };
        assert_eq!(
            to_json(&SessionsView::new(page(), &list)),
            json!({"page": 2, "per_page": 10, "total": 11, "sessions": []})
        );
    }

    #[test]
    fn a_session_is_its_row_with_its_prompt_its_stats_and_its_summary_size() {
        let stats = ChatStats {
            user_messages: 4,
            assistant_messages: 3,
            tokens: 120,
            prompt_tokens: 300,
            completion_tokens: 60,
            first_at: Some(101),
            last_at: Some(199),
            compressions: 1,
            photos: 2,
            documents: 1,
        };
        let detail = ChatDetail {
            chat: chat(),
            system_prompt: Some("Be brief.".into()),
            model: None,
            role: None,
            stats,
            summary: Some(summary(7)),
            topics: Vec::new(),
        };
        assert_eq!(
            to_json(&SessionView::from(&detail)),
            json!({
                "session": {"id": -1001, "kind": "group", "title": "Team", "system_prompt": "Be brief.",
                            "model": null, "role": null,
                            "blocked_at": null, "created_at": 100, "updated_at": 200},
                "stats": {"user_messages": 4, "assistant_messages": 3, "tokens": 120,
                          "prompt_tokens": 300, "completion_tokens": 60,
                          "first_at": 101, "last_at": 199, "compressions": 1,
                          "photos": 2, "documents": 1},
                "summary": {"id": 7, "tokens": 9, "chars": 6, "first_message_id": 1,
                            "last_message_id": 4, "created_at": 300},
            })
        );
        let never_compressed = ChatDetail {
            summary: None,
            ..detail
        };
        let json = to_json(&SessionView::from(&never_compressed));
        assert_eq!(json.get("summary"), Some(&Value::Null), "null, not absent");
        assert_eq!(
            json["stats"],
            json!({"user_messages": 4, "assistant_messages": 3,
            "tokens": 120, "prompt_tokens": 300, "completion_tokens": 60,
            "first_at": 101, "last_at": 199, "compressions": 1, "photos": 2, "documents": 1})
        );
    }

    #[test]
    fn a_session_and_its_overview_show_the_main_conversations_model_and_role_or_null() {
        let overview = ChatOverview {
            chat: chat(),
            user_messages: 0,
            assistant_messages: 0,
            tokens: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            last_message_at: None,
            model: Some("claude:sonnet".into()),
            role: Some("coder".into()),
            photos: 0,
            documents: 0,
        };
        let json = to_json(&OverviewView::from(&overview));
        assert_eq!(
            (&json["model"], &json["role"]),
            (&json!("claude:sonnet"), &json!("coder"))
        );
        let defaults = ChatOverview {
            model: None,
            role: None,
            ..overview
        };
        let json = to_json(&OverviewView::from(&defaults));
        assert_eq!(
            (json.get("model"), json.get("role")),
            (Some(&Value::Null), Some(&Value::Null)),
            "null, not absent"
        );

        let detail = ChatDetail {
            chat: chat(),
            system_prompt: Some("You write code.".into()),
            model: Some("claude:sonnet".into()),
            role: Some("coder".into()),
            stats: ChatStats::default(),
            summary: None,
            topics: Vec::new(),
        };
        assert_eq!(
            to_json(&SessionView::from(&detail))["session"],
            json!({"id": -1001, "kind": "group", "title": "Team", "blocked_at": null,
                   "created_at": 100, "updated_at": 200, "system_prompt": "You write code.",
                   "model": "claude:sonnet", "role": "coder"})
        );
        let defaults = ChatDetail {
            system_prompt: None,
            model: None,
            role: None,
            ..detail
        };
        let json = to_json(&SessionView::from(&defaults));
        assert_eq!(
            (json["session"].get("model"), json["session"].get("role")),
            (Some(&Value::Null), Some(&Value::Null)),
            "null, not absent"
        );
    }

    #[test]
    fn in_a_forum_each_message_and_summary_names_its_topic_and_each_topics_newest_summary_is_in_use(
    ) {
        let in_topic = |id, topic| SummaryRow {
            topic_id: TopicId(topic),
            ..summary(id)
        };
        let message = MessageRow {
            id: 5,
            chat_id: ChatId(-1001),
            role: "user".into(),
            content: "hi".into(),
            tokens: 6,
            telegram_message_id: Some(MessageId(8)),
            created_at: 150,
            folded: false,
            topic_id: TopicId(7),
        };
        let list = MessageList {
            total: 1,
            messages: vec![message],
            attachments: Vec::new(),
            summaries: vec![in_topic(1, 7), in_topic(2, 0), in_topic(3, 7)],
        };
        let json = to_json(&MessagesView::new(ChatId(-1001), page(), &list));
        assert_eq!(json["messages"][0]["topic"], 7);
        let summaries: Vec<(Value, Value)> = json["summaries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["topic"].clone(), s["in_use"].clone()))
            .collect();
        assert_eq!(
            summaries,
            [
                (json!(7), json!(false)),
                (Value::Null, json!(true)),
                (json!(7), json!(true))
            ]
        );
        let detail = ChatDetail {
            chat: chat(),
            system_prompt: None,
            model: None,
            role: None,
            stats: ChatStats::default(),
            summary: None,
            topics: vec![TopicId(7), TopicId(9)],
        };
        assert_eq!(
            to_json(&SessionView::from(&detail))["topics"],
            json!([7, 9])
        );
    }

    #[test]
    fn the_messages_listing_tags_messages_and_summaries_and_marks_the_newest_summary_in_use() {
        let message = MessageRow {
            id: 5,
            chat_id: ChatId(-1001),
            role: "assistant".into(),
            content: "hi".into(),
            tokens: 6,
            telegram_message_id: None,
            created_at: 150,
            folded: true,
            topic_id: TopicId(0),
        };
        let list = MessageList {
            total: 9,
            messages: vec![message],
            attachments: Vec::new(),
            summaries: vec![summary(1), summary(2)],
        };
        assert_eq!(
            to_json(&MessagesView::new(ChatId(-1001), page(), &list)),
            json!({
                "session_id": -1001, "page": 2, "per_page": 10, "total": 9,
                "messages": [{"type": "message", "id": 5, "role": "assistant", "content": "hi",
                              "tokens": 6, "telegram_message_id": null, "created_at": 150,
                              "folded": true}],
                "summaries": [
                    {"type": "summary", "id": 1, "content": "résumé", "tokens": 9,
                     "first_message_id": 1, "last_message_id": 4, "created_at": 300, "in_use": false},
                    {"type": "summary", "id": 2, "content": "résumé", "tokens": 9,
                     "first_message_id": 1, "last_message_id": 4, "created_at": 300, "in_use": true},
                ],
            })
        );
    }

    #[test]
    fn a_deleted_session_says_so_with_its_id() {
        assert_eq!(
            to_json(&SessionDeletedView::from(ChatId(42))),
            json!({"deleted": true, "id": 42})
        );
    }

    #[test]
    fn the_activity_is_the_running_and_the_recent_jobs() {
        let ended = EndedJob {
            id: JobId("u1".into()),
            chat: ChatId(7),
            kind: "chat",
            outcome: "done",
            duration_ms: 12,
            ended_at_ms: 1000,
        };
        assert_eq!(
            to_json(&ActivityView::from((vec![], vec![ended]))),
            json!({"running": [], "recent": [{"id": "u1", "chat": 7, "kind": "chat", "outcome": "done",
                                              "duration_ms": 12, "ended_at_ms": 1000}]})
        );
    }

    #[test]
    fn a_dead_job_decodes_its_payload_or_shows_it_raw_and_nulls_what_is_missing() {
        let job = DeadJob {
            id: JobId("u9".into()),
            reason: Some("boom".into()),
            dead_at_ms: Some(5000),
            attempts: Some(3),
            priority: Some(Priority::High),
            chat: Some(ChatId(7)),
            enqueued_at_ms: Some(4000),
            last_error: Some("boom".into()),
            merged: 1,
            payload: Some(r#"{"v":1}"#.into()),
        };
        assert_eq!(
            to_json(&DeadView::from(&job)),
            json!({"id": "u9", "reason": "boom", "dead_at_ms": 5000, "attempts": 3,
                   "priority": "high", "chat": 7, "enqueued_at_ms": 4000, "last_error": "boom",
                   "merged_messages": 1, "payload": {"v": 1}})
        );
        let damaged = DeadJob {
            id: JobId("compress-7".into()),
            reason: None,
            dead_at_ms: None,
            attempts: None,
            priority: None,
            chat: None,
            enqueued_at_ms: None,
            last_error: None,
            merged: 0,
            payload: Some("{not json".into()),
        };
        assert_eq!(
            to_json(&DeadView::from(&damaged)),
            json!({"id": "compress-7", "reason": null, "dead_at_ms": null, "attempts": null,
                   "priority": null, "chat": null, "enqueued_at_ms": null, "last_error": null,
                   "merged_messages": 0, "payload": "{not json"})
        );
        let no_payload = DeadJob {
            payload: None,
            ..damaged
        };
        assert_eq!(
            to_json(&DeadView::from(&no_payload)).get("payload"),
            Some(&Value::Null)
        );
    }

    #[test]
    fn a_dead_page_repeats_its_page_and_total() {
        let dead = DeadPage {
            total: 3,
            jobs: vec![],
        };
        assert_eq!(
            to_json(&DeadListView::new(page(), &dead)),
            json!({"page": 2, "per_page": 10, "total": 3, "jobs": []})
        );
    }

    #[test]
    fn a_requeued_job_says_where_it_went() {
        let id = JobId("u9".into());
        assert_eq!(
            to_json(&RequeuedView::new(&id, "waiting")),
            json!({"requeued": true, "id": "u9", "state": "waiting"})
        );
    }

    #[test]
    fn a_dropped_job_says_so_with_its_id() {
        let id = JobId("u9".into());
        assert_eq!(
            to_json(&DroppedView::from(&id)),
            json!({"dropped": true, "id": "u9"})
        );
    }

    #[test]
    fn a_backup_gives_its_name_path_and_size() {
        let path = std::path::Path::new("/var/lib/bot/b.db");
        assert_eq!(
            to_json(&BackupView::new("b.db", path, 4096)),
            json!({"name": "b.db", "path": "/var/lib/bot/b.db", "bytes": 4096})
        );
    }

    fn figures(requests: i64, prompt: i64, completion: i64, estimated: i64) -> Figures {
        Figures {
            totals: Totals {
                requests,
                prompt_tokens: prompt,
                completion_tokens: completion,
            },
            estimated_tokens: estimated,
        }
    }

    /// `a` costs 1/2 per million tokens (input/output), `b` has no known price.
    fn price(model: &str) -> Option<Price> {
        (model == "a").then_some(Price {
            input: 1.0,
            output: 2.0,
        })
    }

    fn usage_query(group_by: GroupBy, user: Option<i64>) -> UsageQuery {
        UsageQuery {
            from: "2026-12-01".into(),
            to: "2026-12-30".into(),
            user: user.map(UserId),
            group_by,
            page: page(),
        }
    }

    #[test]
    fn a_usage_row_is_its_key_its_answers_priced_and_its_summaries_apart() {
        let mut models = std::collections::BTreeMap::new();
        models.insert(
            "a".to_string(),
            ModelFigures {
                answers: figures(2, 1_000_000, 500_000, 300),
                summaries: figures(1, 40, 10, 0),
            },
        );
        models.insert(
            "b".to_string(),
            ModelFigures {
                answers: figures(1, 10, 5, 15),
                summaries: Figures::default(),
            },
        );
        let report = UsageReport {
            total: 11,
            groups: vec![UsageGroup {
                key: GroupKey::Day("2026-12-02".into()),
                models,
            }],
            summaries: [("a".to_string(), figures(1, 500_000, 0, 0))].into(),
        };
        let query = usage_query(GroupBy::Day, None);

        let json = to_json(&UsageReportView::new(&query, &report, &price));

        assert_eq!(
            json,
            json!({"page": 2, "per_page": 10, "total": 11, "from": "2026-12-01", "to": "2026-12-30",
                   "group_by": "day", "user_id": null,
                   "summaries": {"requests": 1, "prompt_tokens": 500_000, "completion_tokens": 0,
                                 "tokens": 500_000, "estimated_tokens": 0, "cost": 0.5,
                                 "cost_partial": false},
                   "rows": [{"day": "2026-12-02", "requests": 3, "prompt_tokens": 1_000_010,
                             "completion_tokens": 500_005, "tokens": 1_500_015, "estimated_tokens": 315,
                             "cost": 2.0, "cost_partial": true,
                             "summary_requests": 1, "summary_tokens": 50}]})
        );
    }

    #[test]
    fn a_usage_cost_is_null_when_no_model_has_a_price_and_the_key_follows_the_grouping() {
        let only_b = |key| UsageGroup {
            key,
            models: [(
                "b".to_string(),
                ModelFigures {
                    answers: figures(1, 10, 5, 0),
                    summaries: Figures::default(),
                },
            )]
            .into(),
        };
        let report = UsageReport {
            total: 2,
            groups: vec![
                only_b(GroupKey::User(UserId(7))),
                only_b(GroupKey::Model("b".into())),
            ],
            summaries: Default::default(),
        };
        let query = usage_query(GroupBy::User, Some(7));

        let json = to_json(&UsageReportView::new(&query, &report, &price));

        assert_eq!(
            (&json["group_by"], &json["user_id"]),
            (&json!("user"), &json!(7))
        );
        assert_eq!(
            json["summaries"],
            json!({"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "tokens": 0,
                   "estimated_tokens": 0, "cost": null, "cost_partial": false})
        );
        let row = &json["rows"][0];
        assert_eq!(
            (&row["user_id"], &row["cost"], &row["cost_partial"]),
            (&json!(7), &Value::Null, &json!(false))
        );
        assert_eq!(json["rows"][1]["model"], "b");
        assert!(
            row.get("day").is_none() && row.get("model").is_none(),
            "{row}"
        );
    }
}
