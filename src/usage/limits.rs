//! Token limits per user: `USER_DAILY_TOKENS`, `USER_MONTHLY_TOKENS`, their per-user overrides (`USER_LIMITS`)
//! and the admins (`ADMIN_USER_IDS`), who have none. Pure: the figures come from SQLite, the check is here.

use crate::ids::UserId;
use std::collections::{BTreeMap, BTreeSet};

/// One user's limits, in tokens (prompt and completion together); `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub daily: Option<u64>,
    pub monthly: Option<u64>,
}

impl Limits {
    /// From configured figures, where 0 means no limit.
    pub fn of(daily: u64, monthly: u64) -> Self {
        Self {
            daily: (daily > 0).then_some(daily),
            monthly: (monthly > 0).then_some(monthly),
        }
    }

    /// Whether there is any limit to check (else no figure needs to be read).
    pub fn any(&self) -> bool {
        self.daily.is_some() || self.monthly.is_some()
    }
}

/// Which limit a user reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
}

/// A limit reached: which, what was used in its period, and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitHit {
    pub period: Period,
    pub used: u64,
    pub limit: u64,
}

impl Limits {
    /// The limit reached (at or over) with `today` and `this_month` tokens used, if any; the daily one first
    /// (it resets sooner, so it is what the user waits for … unless the month's is reached too, then that).
    pub fn reached(&self, today: u64, this_month: u64) -> Option<LimitHit> {
        let month = self
            .monthly
            .filter(|limit| this_month >= *limit)
            .map(|limit| LimitHit {
                period: Period::Month,
                used: this_month,
                limit,
            });
        let day = self
            .daily
            .filter(|limit| today >= *limit)
            .map(|limit| LimitHit {
                period: Period::Day,
                used: today,
                limit,
            });
        // The month's limit holds longer: when both are reached, waiting for midnight is not enough.
        month.or(day)
    }
}

/// Everyone's limits, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageLimits {
    /// `USER_DAILY_TOKENS`, `USER_MONTHLY_TOKENS`.
    pub default: Limits,
    /// `USER_LIMITS`: per user, replacing the default.
    pub per_user: BTreeMap<UserId, Limits>,
    /// `ADMIN_USER_IDS`: no limit, and `/usage all`.
    pub admins: BTreeSet<UserId>,
}

impl UsageLimits {
    /// The limits that apply to `user`.
    pub fn for_user(&self, user: UserId) -> Limits {
        if self.admins.contains(&user) {
            return Limits::default();
        }
        self.per_user.get(&user).copied().unwrap_or(self.default)
    }

    pub fn is_admin(&self, user: UserId) -> bool {
        self.admins.contains(&user)
    }
}

/// Reads `USER_LIMITS`: `user=daily/monthly` entries separated by commas (`0`: no limit), e.g.
/// `123456=50000/1000000`.
pub fn parse_user_limits(s: &str) -> Result<BTreeMap<UserId, Limits>, String> {
    let mut out = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = || format!("{item:?} is not user=daily/monthly (e.g. 123456=50000/1000000)");
        let (user, figures) = item.split_once('=').ok_or_else(bad)?;
        let (daily, monthly) = figures.split_once('/').ok_or_else(bad)?;
        let user: i64 = user.trim().parse().map_err(|_| bad())?;
        let daily: u64 = daily.trim().parse().map_err(|_| bad())?;
        let monthly: u64 = monthly.trim().parse().map_err(|_| bad())?;
        if out
            .insert(UserId(user), Limits::of(daily, monthly))
            .is_some()
        {
            return Err(format!("user {user} is listed twice"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_is_reached_at_its_figure_and_the_month_wins_over_the_day() {
        let limits = Limits::of(100, 1000);
        assert_eq!(limits.reached(99, 500), None);
        assert_eq!(
            limits.reached(100, 500),
            Some(LimitHit {
                period: Period::Day,
                used: 100,
                limit: 100
            })
        );
        assert_eq!(
            limits.reached(100, 1000).map(|h| h.period),
            Some(Period::Month)
        );
        assert_eq!(
            Limits::of(0, 0).reached(u64::MAX, u64::MAX),
            None,
            "0: no limit"
        );
        assert!(!Limits::of(0, 0).any());
    }

    #[test]
    fn admins_have_no_limit_and_an_override_replaces_the_default() {
        let limits = UsageLimits {
            default: Limits::of(100, 1000),
            per_user: parse_user_limits("7=50/0, 8 = 0/0").unwrap(),
            admins: [UserId(9)].into(),
        };
        assert_eq!(limits.for_user(UserId(1)), Limits::of(100, 1000));
        assert_eq!(limits.for_user(UserId(7)), Limits::of(50, 0));
        assert_eq!(limits.for_user(UserId(8)), Limits::default());
        assert_eq!(limits.for_user(UserId(9)), Limits::default());
        assert!(limits.is_admin(UserId(9)) && !limits.is_admin(UserId(7)));
    }

    #[test]
    fn bad_user_limits_are_refused_with_the_item() {
        for bad in ["7=50", "x=1/2", "7=1/-2", "7=1/2,7=3/4", "7:1/2"] {
            assert!(parse_user_limits(bad).is_err(), "{bad}");
        }
        assert!(parse_user_limits("").unwrap().is_empty());
    }
}
