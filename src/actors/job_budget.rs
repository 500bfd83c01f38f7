//! What a turn may take and what it used: the prompt budget by the conversation's model, the answer's
//! usage for the day's record and `/metrics`, and compression once the context outgrew the model's window.

use crate::actors::compressor::{CompressChat, CompressOutcome};
use crate::actors::jobs::{JobError, JobRunner};
use crate::actors::session_manager::TurnContext;
use crate::context::PromptBudget;
use crate::db::spending::{Source, Spend, SpendKind};
use crate::ids::{Conversation, UserId};
use crate::llm::Usage;
use crate::queue::{Job, JobKind, Lease, Priority};
use crate::texts;
use crate::usage::Periods;

impl JobRunner {
    /// Queues the conversation's compression when its context has grown past its model's threshold.
    pub(super) async fn queue_compression_if_due(
        &self,
        conversation: Conversation,
        model: &str,
        context_tokens: usize,
    ) {
        let threshold = self.catalog.size_of(model).threshold();
        if self.tokens.corrected(model, context_tokens) <= threshold {
            return;
        }
        let job = Job::internal(
            format!("compress-{conversation}"),
            JobKind::Compress {
                chat_id: conversation.chat,
                topic: conversation.topic,
                context_tokens,
            },
        );
        match self.queue.enqueue(Priority::Low, &job).await {
            Ok(true) => {
                log::debug!("chat {conversation}: compression queued ({context_tokens} tokens)")
            }
            Ok(false) => {}
            Err(e) => log::warn!("could not queue compression for chat {conversation}: {e}"),
        }
    }

    /// The Compressor's work for the conversation, and the note to it when it compressed (if enabled).
    pub(super) async fn compress(
        &self,
        lease: &Lease,
        conversation: Conversation,
    ) -> Result<(), JobError> {
        // Summarised by the conversation's own model, within its window.
        let model = self.model_of(conversation).await?;
        let outcome = self
            .compressor
            .send(CompressChat {
                conversation,
                model: model.clone(),
            })
            .await??;
        let CompressOutcome::Compressed { before, after, .. } = outcome else {
            return Ok(());
        };
        self.metrics.compressions.inc();
        if self.config.compression_notice {
            let note = texts::compression_note(
                self.tokens.corrected(&model, before),
                self.tokens.corrected(&model, after),
            );
            self.reply(lease, conversation, None, &note).await?;
        }
        Ok(())
    }

    /// What an answer (`content`: as stored, without its notes) used, for the day's record: the server's
    /// figures when it reported them, else our count of the prompt and the answer, corrected to the model's
    /// tokens.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn spend_of(
        &self,
        periods: &Periods,
        user: UserId,
        conversation: Conversation,
        model: &str,
        context: &TurnContext,
        content: &str,
        usage: Option<Usage>,
    ) -> Spend {
        let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        // aichat reports zeros when it does not know: that is no report.
        let reported = usage.filter(|u| u.prompt_tokens + u.completion_tokens > 0);
        let (source, prompt, completion) = match reported {
            Some(u) => (Source::Server, u.prompt_tokens, u.completion_tokens),
            None => {
                let count = |n: usize| u64::try_from(self.tokens.corrected(model, n)).unwrap_or(0);
                let answer = self.tokens.count(content);
                (Source::Estimate, count(context.tokens), count(answer))
            }
        };
        Spend {
            day: periods.day.clone(),
            user,
            chat: conversation.chat,
            model: model.to_string(),
            kind: SpendKind::Chat,
            source,
            prompt_tokens: as_i64(prompt),
            completion_tokens: as_i64(completion),
        }
    }

    /// A model request in `/metrics`: its tokens and cost by model.
    pub(super) fn count_request(&self, spend: &Spend) {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let tokens = (count(spend.prompt_tokens), count(spend.completion_tokens));
        let cost = self
            .catalog
            .price_of(&spend.model)
            .map(|p| p.cost(tokens.0, tokens.1));
        let (kind, source) = (spend.kind.as_str(), spend.source.as_str());
        self.metrics
            .model_request(&spend.model, kind, source, tokens, cost);
    }

    /// A turn's prompt budget by the conversation's model: its window's budget (the server's tokens) in our
    /// count, by the model's correction factor.
    pub(super) fn prompt_budget(&self) -> PromptBudget {
        let (catalog, tokens) = (self.catalog.clone(), self.tokens.clone());
        PromptBudget::new(move |own| {
            let model = catalog.model_of(own);
            let correction = tokens.correction(model).max(f64::EPSILON);
            (catalog.size_of(model).prompt_budget() as f64 / correction) as usize
        })
    }
}
