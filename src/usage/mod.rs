//! Usage and budgets, the pure part: who may use how many tokens ([`limits`]), what they cost ([`prices`]),
//! and the UTC periods limits count in ([`calendar`]). What was used is recorded in SQLite (`usage_daily`,
//! see `db::queries`).

pub mod calendar;
pub mod limits;
pub mod prices;

pub use calendar::{wait_text, Periods};
pub use limits::{LimitHit, Limits, Period, UsageLimits};
pub use prices::{ModelPrices, Price};
