//! Compressor: summarises a chat's older turns when its context passes the threshold.
//!
//! Runs for `low`-priority compression jobs (one per chat at a time: the job id is `compress-{chat}`). The
//! summary includes the previous one; the summarised turns stay in the database, marked as folded, so nothing
//! is lost. If summarising fails, the history is untouched and the job is retried later.

use crate::actors::session_manager::{
    CommitCompression, CompressionInput, GetContextUsage, PrepareCompression, RecordSpend,
    SessionError, SessionManager,
};
use crate::actors::supervision::catch_panic;
use crate::catalog::ModelCatalog;
use crate::config::Config;
use crate::db::spending::{Source, Spend, SpendKind};
use crate::health::Health;
use crate::ids::{Conversation, UserId};
use crate::llm::reasoning::strip_reasoning;
use crate::llm::{ChatMessage, Completion, LlmClient, LlmError, Role};
use crate::metrics::Metrics;
use crate::text::now_unix;
use crate::tokens::TokenCounter;
use crate::usage::Periods;
use actix::prelude::*;
use std::sync::Arc;

/// How long a summary may be. Short enough to save most of the context, long enough to keep the facts.
pub const SUMMARY_MAX_WORDS: usize = 300;
/// Share of the prompt budget one summarising request may use (the rest is the instructions and the answer).
const INPUT_SHARE: f64 = 0.6;

// ---- Messages ----------------------------------------------------------------------------------------------

/// From a ChatWorker running a compression job. Replies with what was done; an error leaves the history as
/// it was (the job is retried).
#[derive(Debug, Message)]
#[rtype(result = "Result<CompressOutcome, CompressError>")]
pub struct CompressChat {
    pub conversation: Conversation,
    /// The conversation's model: it writes the summary, and its window sizes the work.
    pub model: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompressOutcome {
    /// Older turns were folded into a summary; context sizes before and after (tokens, our count).
    Compressed {
        before: usize,
        after: usize,
        folded: usize,
    },
    /// The context is under the threshold (or too short to fold): nothing to do.
    NotNeeded,
    /// The history changed meanwhile (e.g. `/clear`): the summary was discarded.
    Discarded,
}

#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("the session manager is unavailable: {0}")]
    Mailbox(#[from] MailboxError),
    #[error("summarising failed: {0}")]
    Llm(#[from] LlmError),
    /// The work panicked (a bug): caught, and the Compressor restarts.
    #[error("summarising panicked: {0}")]
    Panicked(String),
    #[error("the model returned an empty summary")]
    EmptySummary,
    /// Folding would not make the context smaller; the history is left as it is.
    #[error("the summary ({summary} tokens) is not shorter than the turns it would replace ({turns} tokens)")]
    NotShorter { summary: usize, turns: usize },
}

// ---- Actor -------------------------------------------------------------------------------------------------

pub struct Compressor {
    config: Arc<Config>,
    health: Arc<Health>,
    sessions: Addr<SessionManager>,
    tokens: Arc<TokenCounter>,
    catalog: Arc<ModelCatalog>,
    metrics: Arc<Metrics>,
    llm: LlmClient,
}

impl Compressor {
    /// Must run on the arbiter the Compressor lives on (it builds an awc client, which is not `Send`).
    pub fn new(
        config: Arc<Config>,
        health: Arc<Health>,
        sessions: Addr<SessionManager>,
        tokens: Arc<TokenCounter>,
        catalog: Arc<ModelCatalog>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let llm = LlmClient::new(
            &config.llm.base_url,
            &config.llm.model,
            config.llm.api_key.clone(),
        );
        Self {
            config,
            health,
            sessions,
            tokens,
            catalog,
            metrics,
            llm,
        }
    }
}

impl Actor for Compressor {
    type Context = Context<Self>;
}

impl Supervised for Compressor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        let n = self.health.record_restart("compressor");
        log::warn!("compressor restarting (restart #{n})");
    }
}

// ---- Handlers ----------------------------------------------------------------------------------------------

/// What a summary request used, for the chat's record (user 0): the server's figures, else our count.
fn summary_spend(
    tokens: &TokenCounter,
    model: &str,
    conversation: Conversation,
    prompt: &[ChatMessage],
    completion: &Completion,
) -> Spend {
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let ours = |n: usize| as_i64(u64::try_from(tokens.corrected(model, n)).unwrap_or(0));
    // aichat reports zeros when it does not know: that is no report.
    let reported = completion
        .usage
        .filter(|u| u.prompt_tokens + u.completion_tokens > 0);
    let (source, prompt_tokens, completion_tokens) = match reported {
        Some(u) => (
            Source::Server,
            as_i64(u.prompt_tokens),
            as_i64(u.completion_tokens),
        ),
        None => (
            Source::Estimate,
            ours(
                prompt
                    .iter()
                    .map(|m| tokens.count_message(&m.content))
                    .sum(),
            ),
            ours(tokens.count(&completion.content)),
        ),
    };
    Spend {
        day: Periods::at(now_unix()).day,
        user: UserId(0),
        chat: conversation.chat,
        model: model.to_string(),
        kind: SpendKind::Summary,
        source,
        prompt_tokens,
        completion_tokens,
    }
}

impl Handler<CompressChat> for Compressor {
    type Result = ResponseActFuture<Self, Result<CompressOutcome, CompressError>>;

    fn handle(&mut self, msg: CompressChat, _: &mut Context<Self>) -> Self::Result {
        let sessions = self.sessions.clone();
        let llm = self.llm.with_model(&msg.model);
        let model = msg.model;
        let size = self.catalog.size_of(&model);
        let timeout = self.config.job_timeout;
        let keep_recent = self.config.context.keep_recent_messages;
        // Thresholds are in the server's tokens; the database holds our counts.
        let correction = self.tokens.correction(&model).max(f64::EPSILON);
        let threshold = (size.threshold() as f64 / correction) as usize;
        let max_input = (size.prompt_budget() as f64 * INPUT_SHARE / correction) as usize;
        let conversation = msg.conversation;
        let tokens = self.tokens.clone();
        let (catalog, metrics) = (self.catalog.clone(), self.metrics.clone());
        let work = async move {
            let prepare = PrepareCompression {
                conversation,
                threshold,
                keep_recent,
                max_input,
            };
            let Some(input) = sessions.send(prepare).await?? else {
                return Ok(CompressOutcome::NotNeeded);
            };
            let folded = input.turns.len();
            let prompt = summary_prompt(&input);
            let completion = llm.complete(&prompt, timeout).await?;
            // The request was made, whatever becomes of its summary: it counts against the chat.
            let spend = summary_spend(&tokens, &model, conversation, &prompt, &completion);
            let used = (
                u64::try_from(spend.prompt_tokens).unwrap_or(0),
                u64::try_from(spend.completion_tokens).unwrap_or(0),
            );
            let cost = catalog.price_of(&model).map(|p| p.cost(used.0, used.1));
            let (kind, source) = (spend.kind.as_str(), spend.source.as_str());
            metrics.model_request(&model, kind, source, used, cost);
            if let Err(e) = sessions.send(RecordSpend(spend)).await? {
                log::warn!("chat {conversation}: the summary's usage could not be recorded: {e}");
            }
            let summary = strip_reasoning(&completion.content);
            if summary.is_empty() {
                return Err(CompressError::EmptySummary);
            }
            let summary_tokens = tokens.count_message(&summary);
            let turns_tokens: usize = input
                .turns
                .iter()
                .map(|t| tokens.count_message(&t.content))
                .sum::<usize>()
                + input
                    .previous_summary
                    .as_deref()
                    .map_or(0, |s| tokens.count_message(s));
            if summary_tokens >= turns_tokens {
                return Err(CompressError::NotShorter {
                    summary: summary_tokens,
                    turns: turns_tokens,
                });
            }
            let commit = CommitCompression {
                conversation,
                summary,
                first_message_id: input.first_message_id,
                last_message_id: input.last_message_id,
                folded,
            };
            if !sessions.send(commit).await?? {
                log::info!(
                    "chat {conversation}: history changed while summarising; summary discarded"
                );
                return Ok(CompressOutcome::Discarded);
            }
            let after = sessions
                .send(GetContextUsage { conversation })
                .await??
                .with_summary;
            log::info!(
                "chat {conversation}: folded {folded} messages into a summary ({} → {after} tokens)",
                input.context_tokens
            );
            Ok(CompressOutcome::Compressed {
                before: input.context_tokens,
                after,
                folded,
            })
        };
        // A panic in the work would kill the actor for good; caught, it stops the actor, which its
        // Supervisor restarts.
        Box::pin(
            catch_panic(work)
                .into_actor(self)
                .map(|result, _, ctx| match result {
                    Ok(outcome) => outcome,
                    Err(panic) => {
                        log::error!("the compressor panicked: {panic}");
                        ctx.stop();
                        Err(CompressError::Panicked(panic))
                    }
                }),
        )
    }
}

// ---- Helpers -----------------------------------------------------------------------------------------------

/// The request that asks the model for a summary (pure, unit-tested).
pub fn summary_prompt(input: &CompressionInput) -> Vec<ChatMessage> {
    let instructions = format!(
        "You condense chat histories. Summarise the conversation below so that an assistant can continue it \
         without the original: keep facts, names, numbers, code identifiers, decisions, the user's preferences \
         and open questions; drop greetings and small talk. If an earlier summary is given, merge it in. Write \
         plain prose in the conversation's language, at most {SUMMARY_MAX_WORDS} words. Output only the summary."
    );
    let mut text = String::new();
    if let Some(previous) = &input.previous_summary {
        text.push_str("Earlier summary:\n");
        text.push_str(previous);
        text.push_str("\n\nConversation since then:\n");
    } else {
        text.push_str("Conversation:\n");
    }
    for turn in &input.turns {
        let who = match turn.role {
            Role::User => "User",
            Role::Assistant => "Assistant",
            Role::System => "System",
        };
        text.push_str(who);
        text.push_str(": ");
        text.push_str(&turn.content);
        text.push('\n');
    }
    vec![
        ChatMessage::new(Role::System, instructions),
        ChatMessage::new(Role::User, text),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_request_carries_the_earlier_summary_and_every_turn() {
        let input = CompressionInput {
            previous_summary: Some("They met.".into()),
            turns: vec![
                ChatMessage::new(Role::User, "my cat is Tom"),
                ChatMessage::new(Role::Assistant, "nice"),
            ],
            first_message_id: 1,
            last_message_id: 2,
            context_tokens: 99,
        };
        let prompt = summary_prompt(&input);
        assert_eq!(prompt.len(), 2);
        assert!(prompt[0].content.contains("at most 300 words"));
        let text = &prompt[1].content;
        assert!(text.starts_with("Earlier summary:\nThey met."), "{text}");
        assert!(
            text.contains("User: my cat is Tom\nAssistant: nice\n"),
            "{text}"
        );
    }
}
