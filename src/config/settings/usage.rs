//! Usage and budgets: who has no limit, the limits everyone else has, per-user overrides, and prices.

use super::parse::whole;
use super::{Fallback, Legacy, Setting};
use crate::ids::UserId;
use crate::usage::limits::parse_user_limits;
use crate::usage::{Limits, ModelPrices};
use std::collections::{BTreeMap, BTreeSet};

/// The largest limit that can be written: far beyond any month of use, small enough to add without overflow.
const MAX_TOKENS: u64 = 1_000_000_000_000;

/// Users with no token limit, who may also see everyone's usage (`/usage all`): numeric user ids separated
/// by commas. Empty: no admin.
pub static ADMIN_USER_IDS: Setting<BTreeSet<UserId>> = Setting {
    name: "ADMIN_USER_IDS",
    legacy: Legacy::None,
    default: Fallback::Value(BTreeSet::new),
    parse: |name, s| {
        let mut ids = BTreeSet::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<i64>() {
                Ok(id) if id > 0 => ids.insert(UserId(id)),
                _ => {
                    return Err(format!(
                        "{name} has {part:?}, which is not a numeric user id."
                    ))
                }
            };
        }
        Ok(ids)
    },
    show: |c| {
        let ids: Vec<String> = c
            .usage
            .limits
            .admins
            .iter()
            .map(|i| i.to_string())
            .collect();
        ids.join(",")
    },
};

/// Tokens (prompt and completion) a user may use per UTC day; 0: no limit. Unset: no limit (a private bot
/// needs none).
pub static USER_DAILY_TOKENS: Setting<u64> = Setting {
    name: "USER_DAILY_TOKENS",
    legacy: Legacy::None,
    default: Fallback::Value(|| 0),
    parse: |name, s| whole(name, s, 0..=MAX_TOKENS, "tokens"),
    show: |c| c.usage.limits.default.daily.unwrap_or(0).to_string(),
};

/// Tokens a user may use per UTC month; 0: no limit.
pub static USER_MONTHLY_TOKENS: Setting<u64> = Setting {
    name: "USER_MONTHLY_TOKENS",
    legacy: Legacy::None,
    default: Fallback::Value(|| 0),
    parse: |name, s| whole(name, s, 0..=MAX_TOKENS, "tokens"),
    show: |c| c.usage.limits.default.monthly.unwrap_or(0).to_string(),
};

/// Per-user limits replacing the two above: `user=daily/monthly` entries separated by commas (`0`: no limit).
pub static USER_LIMITS: Setting<BTreeMap<UserId, Limits>> = Setting {
    name: "USER_LIMITS",
    legacy: Legacy::None,
    default: Fallback::Value(BTreeMap::new),
    parse: |name, s| parse_user_limits(s).map_err(|e| format!("{name}: {e}.")),
    show: |c| {
        let items: Vec<String> = c
            .usage
            .limits
            .per_user
            .iter()
            .map(|(u, l)| format!("{u}={}/{}", l.daily.unwrap_or(0), l.monthly.unwrap_or(0)))
            .collect();
        items.join(",")
    },
};

/// Prices per million tokens (`model=input/output`, a trailing `*` for a prefix), setting or overriding what
/// the server lists; used to show costs with usage.
pub static MODEL_PRICES: Setting<ModelPrices> = Setting {
    name: "MODEL_PRICES",
    legacy: Legacy::None,
    default: Fallback::Value(ModelPrices::default),
    parse: |name, s| ModelPrices::parse(s).map_err(|e| format!("{name}: {e}.")),
    show: |c| c.usage.prices.to_string(),
};
