//! `/usage` as a job runs it: the user's tokens and cost today and this month with their limits, or, for an
//! admin, `/usage all`: the top users. Costs come from the model server's prices (aichat lists them in
//! `/v1/models`) and `MODEL_PRICES`.

use crate::actors::jobs::{JobError, JobRunner};
use crate::actors::session_manager::{GetTopUsers, GetUserSpending};
use crate::db::spending::Totals;
use crate::ids::UserId;
use crate::text::now_unix;
use crate::texts::{self, UsageLine};
use crate::usage::Periods;
use std::collections::BTreeMap;

/// How many users `/usage all` lists per period.
const TOP_USERS: usize = 10;

impl JobRunner {
    /// The reply to `/usage` (or `/usage all`) from `user`.
    pub(super) async fn usage_text(&self, user: UserId, all: bool) -> Result<String, JobError> {
        let now = now_unix();
        let periods = Periods::at(now);
        let limits = &self.config.usage.limits;
        if all {
            if !limits.is_admin(user) {
                return Ok(texts::USAGE_ALL_ADMINS_ONLY.to_string());
            }
            let mut tops = Vec::with_capacity(2);
            for from_day in [&periods.day, &periods.month_start] {
                let top = GetTopUsers {
                    from_day: from_day.clone(),
                    limit: TOP_USERS,
                };
                let users = self.sessions.send(top).await??;
                let lines: Vec<(UserId, UsageLine)> =
                    users.iter().map(|(u, m)| (*u, self.line(m))).collect();
                tops.push(lines);
            }
            let month = tops.pop().unwrap_or_default();
            let today = tops.pop().unwrap_or_default();
            return Ok(texts::usage_all(&today, &month));
        }
        let spending = self
            .sessions
            .send(GetUserSpending {
                user,
                periods: periods.clone(),
            })
            .await??;
        Ok(texts::usage(
            &self.line(&spending.today),
            &self.line(&spending.month),
            &limits.for_user(user),
            &periods,
            now,
        ))
    }

    /// A period's totals per model, as one line's figures with their cost where prices are known.
    fn line(&self, by_model: &BTreeMap<String, Totals>) -> UsageLine {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let mut line = UsageLine::default();
        let (mut priced, mut unpriced) = (0.0, false);
        let mut any_price = false;
        for (model, t) in by_model {
            line.tokens += count(t.tokens());
            line.requests += count(t.requests);
            match self.catalog.price_of(model) {
                Some(price) => {
                    any_price = true;
                    priced += price.cost(count(t.prompt_tokens), count(t.completion_tokens));
                }
                None => unpriced = true,
            }
        }
        if any_price {
            line.cost = Some(priced);
            line.partly = unpriced;
        }
        line
    }
}
