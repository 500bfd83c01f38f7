//! The `SessionManager`'s turns: what its `Turns` handler does with a batch of [`TurnStep`]s inside one
//! pooled connection — a `BeginTurn` stores the new user messages and builds the prompt, a `FinishTurn`
//! stores the answer and its usage. Split from `session_manager.rs` (whose child module this is) only to keep
//! that file short; the module's doc there (transactions, panics) holds for this code too.

use super::{
    clamp_i32, new_chat, to_usize_i64, BeginTurn, FinishTurn, Quota, SessionError, SessionManager,
    TurnContext, TurnReply, TurnStep,
};
use crate::context::prompt::to_usize;
use crate::context::{build_prompt, system_for_chat};
use crate::db::attachments;
use crate::db::models::NewMessage;
use crate::db::queries;
use crate::db::spending;
use crate::ids::MessageId;
use crate::llm::Role;
use crate::media::Attachment;
use crate::text::now_unix;
use crate::usage::LimitHit;
use diesel::SqliteConnection;

impl SessionManager {
    /// The steps of a `Turns` batch, in one IMMEDIATE transaction; if a step fails (so nothing was stored),
    /// each step again in a transaction of its own, so only the failing one fails. One result per step.
    pub(super) fn store_turns(
        &self,
        conn: &mut SqliteConnection,
        steps: &[TurnStep],
    ) -> Vec<Result<TurnReply, SessionError>> {
        let together = conn.immediate_transaction(|conn| {
            steps
                .iter()
                .map(|step| self.turn_step(conn, step))
                .collect::<Result<Vec<_>, _>>()
        });
        match together {
            Ok(replies) => replies.into_iter().map(Ok).collect(),
            // One step failed, so nothing was stored: each step again on its own, so only the failing
            // one fails.
            Err(_) if steps.len() > 1 => steps
                .iter()
                .map(|step| conn.immediate_transaction(|conn| self.turn_step(conn, step)))
                .collect(),
            Err(e) => vec![Err(e)],
        }
    }

    fn turn_step(
        &self,
        conn: &mut SqliteConnection,
        step: &TurnStep,
    ) -> Result<TurnReply, SessionError> {
        match step {
            TurnStep::Begin(m) => self.begin_turn(conn, m).map(TurnReply::Begun),
            TurnStep::Finish(m) => self.finish_turn(conn, m).map(TurnReply::Finished),
        }
    }

    /// [`BeginTurn`] inside the caller's transaction.
    fn begin_turn(
        &self,
        conn: &mut SqliteConnection,
        msg: &BeginTurn,
    ) -> Result<TurnContext, SessionError> {
        if msg.chat.kind != "private" && queries::is_inactive_group(conn, msg.chat.id)? {
            return Ok(TurnContext {
                inactive: true,
                ..TurnContext::default()
            });
        }
        if let Some(hit) = self.limit_reached(conn, msg.quota.as_ref())? {
            return Ok(TurnContext {
                over_limit: Some(hit),
                ..TurnContext::default()
            });
        }
        let now = now_unix();
        // The photos count with the first message, which they are recorded with.
        let photo_tokens: usize = msg.attachments.iter().map(Attachment::tokens).sum();
        let counted: Vec<(MessageId, &str, usize)> = msg
            .messages
            .iter()
            .enumerate()
            .map(|(i, (id, text))| {
                let extra = if i == 0 { photo_tokens } else { 0 };
                (*id, text.as_str(), self.tokens.count_message(text) + extra)
            })
            .collect();
        let new_tokens: usize = counted.iter().map(|(_, _, t)| t).sum();
        let conversation = msg.chat.conversation();
        let settings = queries::settings(conn, conversation)?;
        let budget = msg.budget.of(settings.model.as_deref());
        let (mut system, mut system_tokens) = self.system_in(settings.system_prompt);
        if msg.chat.kind != "private" {
            // In groups the model is told it reads several people.
            system = system_for_chat(system, &msg.chat.kind);
            system_tokens = system
                .as_deref()
                .map_or(0, |s| self.tokens.count_message(s));
        }
        if system_tokens + new_tokens > budget {
            return Ok(TurnContext {
                refused: Some(new_tokens),
                model: settings.model,
                ..TurnContext::default()
            });
        }
        queries::upsert_chat(conn, &new_chat(&msg.chat, now))?;
        for (id, text, tokens) in &counted {
            queries::insert_message(
                conn,
                &NewMessage {
                    chat_id: msg.chat.id,
                    topic_id: conversation.topic_key(),
                    role: Role::User.as_str(),
                    content: text,
                    tokens: clamp_i32(*tokens),
                    telegram_message_id: Some(*id),
                    created_at: now,
                },
            )?;
        }
        if let Some((first, _)) = msg.messages.first() {
            attachments::attach(
                conn,
                msg.chat.id,
                *first,
                &msg.attachments,
                msg.caption.as_deref(),
            )?;
        }
        let stored = self.load_after_system(conn, conversation, system, system_tokens)?;
        Ok(TurnContext {
            model: settings.model,
            ..build_prompt(stored, budget)
        })
    }

    /// The limit the quota's user reached, if any (read only when there is a limit).
    fn limit_reached(
        &self,
        conn: &mut SqliteConnection,
        quota: Option<&Quota>,
    ) -> Result<Option<LimitHit>, SessionError> {
        let Some(q) = quota.filter(|q| q.limits.any()) else {
            return Ok(None);
        };
        let used = spending::user_spending(conn, q.user, &q.periods.day, &q.periods.month_start)?;
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(q.limits
            .reached(count(used.today_tokens()), count(used.month_tokens())))
    }

    /// [`FinishTurn`] inside the caller's transaction.
    fn finish_turn(
        &self,
        conn: &mut SqliteConnection,
        msg: &FinishTurn,
    ) -> Result<usize, SessionError> {
        let tokens = self.tokens.count_message(&msg.content);
        let added = queries::insert_message(
            conn,
            &NewMessage {
                chat_id: msg.conversation.chat,
                topic_id: msg.conversation.topic_key(),
                role: Role::Assistant.as_str(),
                content: &msg.content,
                tokens: clamp_i32(tokens),
                telegram_message_id: msg.telegram_message_id,
                created_at: now_unix(),
            },
        )?;
        if let (true, Some(spend)) = (added, &msg.spend) {
            spending::record(conn, spend)?;
        }
        if let (true, Some(usage)) = (added, msg.usage) {
            queries::add_usage(
                conn,
                msg.conversation,
                i64::try_from(usage.prompt_tokens).unwrap_or(i64::MAX),
                i64::try_from(usage.completion_tokens).unwrap_or(i64::MAX),
            )?;
        }
        // The context's size without loading it: system prompt + summary + the sum of the unfolded turns.
        let (_, system_tokens) = self.system_of(conn, msg.conversation)?;
        let summary_tokens =
            queries::latest_summary(conn, msg.conversation)?.map_or(0, |s| to_usize(s.tokens));
        let history = to_usize_i64(queries::active_tokens(conn, msg.conversation)?);
        Ok(system_tokens + summary_tokens + history)
    }
}
