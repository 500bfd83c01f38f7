//! What the model requests used (`usage_daily`): recorded per UTC day, user, chat, model, kind and source;
//! read for the limits, `/usage` and the admin API (`GET /api/usage`: [`usage_report`]). Each function takes
//! a connection, so callers choose the transaction.

use super::schema::usage_daily;
use crate::ids::{ChatId, UserId};
use crate::paging::Page;
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

// ---- The admin API's report ----------------------------------------------------------------------------

/// How `GET /api/usage` groups its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    /// One row per UTC day, oldest first.
    Day,
    /// One row per user, the most tokens first; the bot's summaries (user 0) are no user's row.
    User,
    /// One row per model, the most tokens first.
    Model,
}

impl GroupBy {
    /// The name `group_by=` takes and the answer repeats.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Day => "day",
            GroupBy::User => "user",
            GroupBy::Model => "model",
        }
    }
}

/// What a report covers: the days `from..=to` (`YYYY-MM-DD`, already valid), one user or everyone, grouped
/// one way, and which page of its groups to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageQuery {
    pub from: String,
    pub to: String,
    /// Only this user's answers (then no summaries: they are no user's).
    pub user: Option<UserId>,
    pub group_by: GroupBy,
    pub page: Page,
}

/// A group's key: the day, the user or the model its figures belong to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupKey {
    Day(String),
    User(UserId),
    Model(String),
}

/// Totals of one kind of request, with how many of their tokens are the bot's own count (`source =
/// 'estimate'`) rather than the server's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub totals: Totals,
    pub estimated_tokens: i64,
}

impl Figures {
    fn add(&mut self, source: &str, requests: i64, prompt: i64, completion: i64) {
        self.totals.add(requests, prompt, completion);
        if source == Source::Estimate.as_str() {
            self.estimated_tokens += prompt + completion;
        }
    }
}

/// One model's figures within a group: the users' answers and the bot's summaries apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ModelFigures {
    pub answers: Figures,
    pub summaries: Figures,
}

/// One row of the report, per model so that each model can be priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageGroup {
    pub key: GroupKey,
    pub models: BTreeMap<String, ModelFigures>,
}

impl UsageGroup {
    /// The answers' tokens: what the `user` and `model` groupings sort by.
    pub fn tokens(&self) -> i64 {
        self.models
            .values()
            .map(|m| m.answers.totals.tokens())
            .sum()
    }
}

/// A page of a report's groups, how many groups there are, and the summaries of the whole range per model
/// (empty when the report is one user's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageReport {
    pub total: u64,
    pub groups: Vec<UsageGroup>,
    pub summaries: BTreeMap<String, Figures>,
}

/// The report `GET /api/usage` shows: `usage_daily` from `q.from` to `q.to` (both included), grouped by
/// `q.group_by`, one page of it. Summaries are counted in their day's or model's group (apart from the
/// answers) and in [`UsageReport::summaries`], never in a user's group.
pub fn usage_report(conn: &mut SqliteConnection, q: &UsageQuery) -> QResult<UsageReport> {
    let mut query = usage_daily::table
        .filter(usage_daily::day.ge(&q.from))
        .filter(usage_daily::day.le(&q.to))
        .select((
            usage_daily::day,
            usage_daily::user_id,
            usage_daily::model,
            usage_daily::kind,
            usage_daily::source,
            usage_daily::requests,
            usage_daily::prompt_tokens,
            usage_daily::completion_tokens,
        ))
        .into_boxed();
    if let Some(user) = q.user {
        query = query
            .filter(usage_daily::user_id.eq(user.0))
            .filter(usage_daily::kind.eq(SpendKind::Chat.as_str()));
    }
    type Row = (String, i64, String, String, String, i64, i64, i64);
    let rows: Vec<Row> = query.load(conn)?;
    let mut groups: BTreeMap<GroupKey, BTreeMap<String, ModelFigures>> = BTreeMap::new();
    let mut summaries: BTreeMap<String, Figures> = BTreeMap::new();
    for (day, user, model, kind, source, requests, prompt, completion) in rows {
        let summary = kind == SpendKind::Summary.as_str();
        if summary {
            summaries
                .entry(model.clone())
                .or_default()
                .add(&source, requests, prompt, completion);
        }
        let key = match q.group_by {
            GroupBy::Day => GroupKey::Day(day),
            GroupBy::User if summary => continue,
            GroupBy::User => GroupKey::User(UserId(user)),
            GroupBy::Model => GroupKey::Model(model.clone()),
        };
        let figures = groups.entry(key).or_default().entry(model).or_default();
        let part = if summary {
            &mut figures.summaries
        } else {
            &mut figures.answers
        };
        part.add(&source, requests, prompt, completion);
    }
    let mut groups: Vec<UsageGroup> = groups
        .into_iter()
        .map(|(key, models)| UsageGroup { key, models })
        .collect();
    if q.group_by != GroupBy::Day {
        // Stable: equal tokens stay in key order.
        groups.sort_by_key(|g| std::cmp::Reverse(g.tokens()));
    }
    let total = u64::try_from(groups.len()).unwrap_or(u64::MAX);
    let skip = usize::try_from(q.page.offset()).unwrap_or(usize::MAX);
    let take = usize::try_from(q.page.per_page()).unwrap_or(usize::MAX);
    let groups = groups.into_iter().skip(skip).take(take).collect();
    Ok(UsageReport {
        total,
        groups,
        summaries,
    })
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

    fn report(conn: &mut SqliteConnection, group_by: GroupBy, user: Option<i64>) -> UsageReport {
        let q = UsageQuery {
            from: "2026-12-01".into(),
            to: "2026-12-03".into(),
            user: user.map(UserId),
            group_by,
            page: Page::default(),
        };
        usage_report(conn, &q).unwrap()
    }

    fn report_fixture() -> (tempfile::TempDir, db::DbPool) {
        let dir = tempfile::tempdir().unwrap();
        let pool = db::open(&dir.path().join("t.db"), 1).unwrap();
        let mut conn = pool.get().unwrap();
        let mut estimated = spend("2026-12-02", 8, "b", SpendKind::Chat, (40, 4));
        estimated.source = Source::Estimate;
        for r in [
            spend("2026-11-30", 7, "a", SpendKind::Chat, (1000, 1000)),
            spend("2026-12-01", 7, "a", SpendKind::Chat, (100, 10)),
            spend("2026-12-03", 7, "a", SpendKind::Chat, (30, 5)),
            spend("2026-12-03", 8, "a", SpendKind::Chat, (5, 5)),
            estimated,
            spend("2026-12-03", 0, "c", SpendKind::Summary, (500, 50)),
            spend("2026-12-04", 9, "a", SpendKind::Chat, (9, 9)),
        ] {
            record(&mut conn, &r).unwrap();
        }
        drop(conn);
        (dir, pool)
    }

    #[test]
    fn a_report_by_day_covers_its_range_oldest_first_with_the_summaries_apart() {
        let (_dir, pool) = report_fixture();
        let mut conn = pool.get().unwrap();

        let r = report(&mut conn, GroupBy::Day, None);

        let days: Vec<(&GroupKey, i64)> = r.groups.iter().map(|g| (&g.key, g.tokens())).collect();
        assert_eq!(
            days,
            [
                (&GroupKey::Day("2026-12-01".into()), 110),
                (&GroupKey::Day("2026-12-02".into()), 44),
                (&GroupKey::Day("2026-12-03".into()), 45),
            ],
            "November 30th and December 4th are outside"
        );
        assert_eq!(r.total, 3);
        let third = &r.groups[2].models;
        assert_eq!(third["c"].summaries.totals.tokens(), 550);
        assert_eq!(third["c"].answers, Figures::default());
        assert_eq!(r.groups[1].models["b"].answers.estimated_tokens, 44);
        assert_eq!(r.summaries["c"].totals.requests, 1);
    }

    #[test]
    fn a_report_by_user_or_model_puts_the_most_tokens_first_and_summaries_in_no_users_row() {
        let (_dir, pool) = report_fixture();
        let mut conn = pool.get().unwrap();

        let users = report(&mut conn, GroupBy::User, None);
        let models = report(&mut conn, GroupBy::Model, None);
        let one = report(&mut conn, GroupBy::Model, Some(8));

        let keys =
            |r: &UsageReport| -> Vec<GroupKey> { r.groups.iter().map(|g| g.key.clone()).collect() };
        assert_eq!(
            keys(&users),
            [GroupKey::User(UserId(7)), GroupKey::User(UserId(8))]
        );
        assert_eq!(users.groups[0].tokens(), 145);
        assert_eq!(
            users.summaries["c"].totals.tokens(),
            550,
            "apart from the users"
        );
        assert_eq!(
            keys(&models),
            [
                GroupKey::Model("a".into()),
                GroupKey::Model("b".into()),
                GroupKey::Model("c".into())
            ],
            "a summaries-only model has no answer tokens: last"
        );
        assert_eq!(
            keys(&one),
            [GroupKey::Model("b".into()), GroupKey::Model("a".into())],
            "user 8's own: 44 tokens of b, 10 of a"
        );
        assert_eq!(one.groups[0].tokens(), 44);
        assert!(one.summaries.is_empty(), "a user's report has no summaries");
    }

    #[test]
    fn a_report_returns_one_page_of_its_groups_and_counts_them_all() {
        let (_dir, pool) = report_fixture();
        let mut conn = pool.get().unwrap();
        let q = |number| UsageQuery {
            from: "2026-11-01".into(),
            to: "2026-12-31".into(),
            user: None,
            group_by: GroupBy::Day,
            page: Page::new(Some(number), Some(2)).unwrap(),
        };

        let second = usage_report(&mut conn, &q(2)).unwrap();
        let fourth = usage_report(&mut conn, &q(4)).unwrap();

        let days: Vec<&GroupKey> = second.groups.iter().map(|g| &g.key).collect();
        assert_eq!(
            days,
            [
                &GroupKey::Day("2026-12-02".into()),
                &GroupKey::Day("2026-12-03".into())
            ]
        );
        assert_eq!((second.total, fourth.total), (5, 5));
        assert!(fourth.groups.is_empty());
    }
}
