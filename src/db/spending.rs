//! What the model requests used (`usage_daily`): recorded per UTC day, user, chat, model, kind and source;
//! read for the limits, `/usage` and the admin API. Each function takes a connection, so callers choose the
//! transaction.

use super::schema::usage_daily;
use crate::ids::{ChatId, UserId};
use diesel::prelude::*;
use diesel::SqliteConnection;
use std::collections::BTreeMap;

type QResult<T> = Result<T, diesel::result::Error>;

/// Whose request it was: an answer to a user, or the bot's own summary of a chat (user 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendKind {
    Chat,
    Summary,
}

impl SpendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpendKind::Chat => "chat",
            SpendKind::Summary => "summary",
        }
    }
}

/// Where the figures come from: the server's reported `usage`, or the bot's own count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Server,
    Estimate,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Server => "server",
            Source::Estimate => "estimate",
        }
    }
}

/// One request's usage, to add to its day's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spend {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// 0 for a summary.
    pub user: UserId,
    pub chat: ChatId,
    pub model: String,
    pub kind: SpendKind,
    pub source: Source,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// Adds one request's usage to its row (created if needed).
pub fn record(conn: &mut SqliteConnection, s: &Spend) -> QResult<()> {
    diesel::insert_into(usage_daily::table)
        .values((
            usage_daily::day.eq(&s.day),
            usage_daily::user_id.eq(s.user.0),
            usage_daily::chat_id.eq(s.chat.0),
            usage_daily::model.eq(&s.model),
            usage_daily::kind.eq(s.kind.as_str()),
            usage_daily::source.eq(s.source.as_str()),
            usage_daily::requests.eq(1),
            usage_daily::prompt_tokens.eq(s.prompt_tokens),
            usage_daily::completion_tokens.eq(s.completion_tokens),
        ))
        .on_conflict((
            usage_daily::day,
            usage_daily::user_id,
            usage_daily::chat_id,
            usage_daily::model,
            usage_daily::kind,
            usage_daily::source,
        ))
        .do_update()
        .set((
            usage_daily::requests.eq(usage_daily::requests + 1),
            usage_daily::prompt_tokens.eq(usage_daily::prompt_tokens + s.prompt_tokens),
            usage_daily::completion_tokens.eq(usage_daily::completion_tokens + s.completion_tokens),
        ))
        .execute(conn)?;
    Ok(())
}

/// Requests and tokens, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

impl Totals {
    /// Prompt and completion together: what limits count.
    pub fn tokens(&self) -> i64 {
        self.prompt_tokens + self.completion_tokens
    }

    fn add(&mut self, requests: i64, prompt: i64, completion: i64) {
        self.requests += requests;
        self.prompt_tokens += prompt;
        self.completion_tokens += completion;
    }
}

/// One user's answers (not summaries) from `month_start` on, per model: today's and the month's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSpending {
    pub today: BTreeMap<String, Totals>,
    pub month: BTreeMap<String, Totals>,
}

impl UserSpending {
    pub fn today_tokens(&self) -> i64 {
        self.today.values().map(Totals::tokens).sum()
    }

    pub fn month_tokens(&self) -> i64 {
        self.month.values().map(Totals::tokens).sum()
    }
}

/// What `user` used in answers today (`day`) and this month (from `month_start`), per model.
pub fn user_spending(
    conn: &mut SqliteConnection,
    user: UserId,
    day: &str,
    month_start: &str,
) -> QResult<UserSpending> {
    let rows: Vec<(String, String, i64, i64, i64)> = usage_daily::table
        .filter(usage_daily::user_id.eq(user.0))
        .filter(usage_daily::kind.eq(SpendKind::Chat.as_str()))
        .filter(usage_daily::day.ge(month_start))
        .select((
            usage_daily::day,
            usage_daily::model,
            usage_daily::requests,
            usage_daily::prompt_tokens,
            usage_daily::completion_tokens,
        ))
        .load(conn)?;
    let mut out = UserSpending::default();
    for (d, model, requests, prompt, completion) in rows {
        if d.as_str() == day {
            out.today
                .entry(model.clone())
                .or_default()
                .add(requests, prompt, completion);
        }
        out.month
            .entry(model)
            .or_default()
            .add(requests, prompt, completion);
    }
    Ok(out)
}

/// The users who used the most tokens in answers from `from_day` on, most first (then by id), at most
/// `limit`, each with their totals per model (for costs).
pub fn top_users(
    conn: &mut SqliteConnection,
    from_day: &str,
    limit: usize,
) -> QResult<Vec<(UserId, BTreeMap<String, Totals>)>> {
    let rows: Vec<(i64, String, i64, i64, i64)> = usage_daily::table
        .filter(usage_daily::kind.eq(SpendKind::Chat.as_str()))
        .filter(usage_daily::day.ge(from_day))
        .select((
            usage_daily::user_id,
            usage_daily::model,
            usage_daily::requests,
            usage_daily::prompt_tokens,
            usage_daily::completion_tokens,
        ))
        .load(conn)?;
    let mut by_user: BTreeMap<i64, BTreeMap<String, Totals>> = BTreeMap::new();
    for (user, model, requests, prompt, completion) in rows {
        by_user
            .entry(user)
            .or_default()
            .entry(model)
            .or_default()
            .add(requests, prompt, completion);
    }
    let mut users: Vec<(UserId, BTreeMap<String, Totals>)> = by_user
        .into_iter()
        .map(|(u, models)| (UserId(u), models))
        .collect();
    let tokens = |m: &BTreeMap<String, Totals>| m.values().map(Totals::tokens).sum::<i64>();
    users.sort_by(|a, b| tokens(&b.1).cmp(&tokens(&a.1)).then(a.0.cmp(&b.0)));
    users.truncate(limit);
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;

    fn spend(day: &str, user: i64, model: &str, kind: SpendKind, tokens: (i64, i64)) -> Spend {
        Spend {
            day: day.into(),
            user: UserId(user),
            chat: ChatId(user),
            model: model.into(),
            kind,
            source: Source::Server,
            prompt_tokens: tokens.0,
            completion_tokens: tokens.1,
        }
    }

    #[test]
    fn a_users_answers_are_summed_per_day_and_month_and_summaries_are_apart() {
        let dir = tempfile::tempdir().unwrap();
        let pool = db::open(&dir.path().join("t.db"), 1).unwrap();
        let mut conn = pool.get().unwrap();
        let records = [
            spend("2026-11-30", 7, "a", SpendKind::Chat, (1000, 1000)),
            spend("2026-12-01", 7, "a", SpendKind::Chat, (100, 10)),
            spend("2026-12-03", 7, "a", SpendKind::Chat, (30, 5)),
            spend("2026-12-03", 7, "a", SpendKind::Chat, (30, 5)),
            spend("2026-12-03", 7, "b", SpendKind::Chat, (1, 1)),
            spend("2026-12-03", 0, "a", SpendKind::Summary, (500, 50)),
            spend("2026-12-03", 8, "a", SpendKind::Chat, (5, 5)),
        ];
        for r in &records {
            record(&mut conn, r).unwrap();
        }

        let s = user_spending(&mut conn, UserId(7), "2026-12-03", "2026-12-01").unwrap();
        assert_eq!(s.today_tokens(), 72);
        assert_eq!(s.month_tokens(), 182, "November's use is last month's");
        assert_eq!(
            s.today.get("a"),
            Some(&Totals {
                requests: 2,
                prompt_tokens: 60,
                completion_tokens: 10
            })
        );
        let top = top_users(&mut conn, "2026-12-01", 10).unwrap();
        let order: Vec<i64> = top.iter().map(|(u, _)| u.0).collect();
        assert_eq!(order, [7, 8], "the bot's summaries are no user's");
    }
}
