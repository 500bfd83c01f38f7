//! The periods limits count in: the UTC day and the UTC month, as the `day` strings SQLite stores
//! (`YYYY-MM-DD`, which sort as dates), and when each period ends.

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};

/// The UTC day and month a moment falls in, and when they end (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Periods {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// The first day of the month, `YYYY-MM-01`.
    pub month_start: String,
    /// 00:00 UTC of the next day.
    pub day_ends_at: i64,
    /// 00:00 UTC of the first day of the next month.
    pub month_ends_at: i64,
}

impl Periods {
    /// The periods of the moment `unix_seconds` (a moment before 1970 or past 9999 counts as 1970-01-01).
    pub fn at(unix_seconds: i64) -> Self {
        let date = Timestamp::from_second(unix_seconds)
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
            .unwrap_or(Date::constant(1970, 1, 1));
        let first = date.first_of_month();
        let midnight = |d: Date| {
            d.to_zoned(jiff::tz::TimeZone::UTC)
                .map(|z| z.timestamp().as_second())
                .unwrap_or(i64::MAX)
        };
        let next_day = date.checked_add(1.day()).unwrap_or(date);
        let next_month = first.checked_add(1.month()).unwrap_or(first);
        Self {
            day: date.to_string(),
            month_start: first.to_string(),
            day_ends_at: midnight(next_day),
            month_ends_at: midnight(next_month),
        }
    }
}

/// How long until `at`, from `now`: `5 h 12 min`, `3 min`, `2 d 4 h` (at least 1 min).
pub fn wait_text(now: i64, at: i64) -> String {
    let minutes = ((at - now).max(0) + 59) / 60;
    let minutes = minutes.max(1);
    let (days, hours, mins) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, _) => format!("{hours} h {mins} min"),
        _ => format!("{days} d {hours} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_falls_in_its_utc_day_and_month() {
        // 2026-12-31 23:30:00 UTC.
        let p = Periods::at(1_798_759_800);
        assert_eq!(p.day, "2026-12-31");
        assert_eq!(p.month_start, "2026-12-01");
        assert_eq!(p.day_ends_at, 1_798_761_600, "2027-01-01 00:00 UTC");
        assert_eq!(p.month_ends_at, 1_798_761_600);
        let next = Periods::at(p.day_ends_at);
        assert_eq!(
            (next.day.as_str(), next.month_start.as_str()),
            ("2027-01-01", "2027-01-01")
        );
    }

    #[test]
    fn the_wait_reads_in_minutes_hours_and_days() {
        assert_eq!(wait_text(0, 5 * 3600 + 12 * 60), "5 h 12 min");
        assert_eq!(wait_text(0, 30), "1 min");
        assert_eq!(wait_text(0, 3 * 60), "3 min");
        assert_eq!(wait_text(0, 2 * 86_400 + 4 * 3600), "2 d 4 h");
        assert_eq!(wait_text(100, 0), "1 min");
    }
}
