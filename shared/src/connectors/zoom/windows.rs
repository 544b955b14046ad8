//! Date windows for listing recordings.
//!
//! Zoom's `from`/`to` are UTC dates, both inclusive, and one call may span at most one month.
//! A window here covers at most 28 days counting both ends (`to = from + 27 days`): that fits
//! inside the shortest month, so it is accepted under any reading of "one month".

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Days in one window, counting both ends.
pub const WINDOW_DAYS: u64 = 28;

/// One listing call's date range, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DateWindow {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateWindow {
    /// The `from` and `to` query parameters, as `YYYY-MM-DD`.
    pub fn as_query(&self) -> [(&'static str, String); 2] {
        [
            ("from", self.from.format("%Y-%m-%d").to_string()),
            ("to", self.to.format("%Y-%m-%d").to_string()),
        ]
    }
}

/// Windows covering every UTC date from `since` to `until`, newest first: contiguous, without
/// overlap, each at most `WINDOW_DAYS` long (only the oldest may be shorter). A range within
/// one day gives one window; `since` after `until` gives none.
pub fn windows(since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateWindow> {
    let first = since.date_naive();
    let mut to = until.date_naive();
    let mut out = Vec::new();
    while to >= first {
        let from = to
            .checked_sub_days(Days::new(WINDOW_DAYS - 1))
            .map_or(first, |from| from.max(first));
        out.push(DateWindow { from, to });
        match from.pred_opt() {
            Some(previous) => to = previous,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Months, TimeZone};
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn at(date: NaiveDate, h: u32) -> DateTime<Utc> {
        Utc.from_utc_datetime(&date.and_hms_opt(h, 0, 0).unwrap())
    }

    /// Every window fits Zoom's limit and together they cover `first..=last` once each.
    fn assert_tiles(windows: &[DateWindow], first: NaiveDate, last: NaiveDate) {
        let mut expected_to = Some(last);
        for window in windows {
            assert_eq!(Some(window.to), expected_to, "contiguous, newest first");
            assert!(window.from <= window.to);
            let one_month_on = window.from.checked_add_months(Months::new(1)).unwrap();
            assert!(window.to <= one_month_on, "{window:?} exceeds a month");
            expected_to = window.from.pred_opt();
        }
        assert_eq!(windows.last().map(|w| w.from), Some(first));
    }

    #[test]
    fn seventy_five_days_take_three_windows_covering_each_day_once() {
        let since = at(day(2025, 1, 1), 9);
        let until = since + chrono::Duration::days(75);
        let windows = windows(since, until);
        assert_eq!(windows.len(), 3);
        assert_tiles(&windows, day(2025, 1, 1), day(2025, 3, 17));
        let mut days: Vec<NaiveDate> = windows
            .iter()
            .flat_map(|w| w.from.iter_days().take_while(move |d| *d <= w.to))
            .collect();
        let count = days.len();
        days.sort();
        days.dedup();
        assert_eq!(days.len(), count, "no day twice");
        assert_eq!(count, 76, "Jan 1 to Mar 17 inclusive");
    }

    #[test]
    fn a_window_never_exceeds_a_month_even_across_february() {
        let windows = windows(at(day(2023, 12, 20), 0), at(day(2024, 4, 2), 0));
        assert_tiles(&windows, day(2023, 12, 20), day(2024, 4, 2));
        assert!(windows
            .iter()
            .any(|w| w.from.month0() == 1 || w.to.month0() == 1));
        let shortest_month = day(2025, 1, 31).checked_add_months(Months::new(1)).unwrap();
        assert_eq!(shortest_month, day(2025, 2, 28));
        let window = super::windows(at(day(2025, 1, 1), 0), at(day(2025, 2, 28), 0))[0];
        assert!(window.to <= window.from.checked_add_months(Months::new(1)).unwrap());
    }

    #[test]
    fn a_range_within_one_day_is_one_window() {
        let instant = at(day(2025, 6, 10), 12);
        let expected = vec![DateWindow {
            from: day(2025, 6, 10),
            to: day(2025, 6, 10),
        }];
        assert_eq!(windows(instant, instant), expected);
        assert_eq!(
            windows(at(day(2025, 6, 10), 0), at(day(2025, 6, 10), 23)),
            expected
        );
    }

    #[test]
    fn an_inverted_range_is_empty() {
        assert!(windows(at(day(2025, 6, 11), 0), at(day(2025, 6, 10), 0)).is_empty());
    }

    #[test]
    fn windows_render_as_query_dates_and_round_trip_through_json() {
        let window = DateWindow {
            from: day(2025, 3, 1),
            to: day(2025, 3, 28),
        };
        assert_eq!(
            window.as_query(),
            [
                ("from", "2025-03-01".to_owned()),
                ("to", "2025-03-28".to_owned())
            ]
        );
        let json = serde_json::to_value(window).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"from": "2025-03-01", "to": "2025-03-28"})
        );
        assert_eq!(serde_json::from_value::<DateWindow>(json).unwrap(), window);
    }

    #[test]
    fn the_extremes_of_the_calendar_do_not_panic() {
        let min = Utc.from_utc_datetime(&NaiveDate::MIN.and_hms_opt(0, 0, 0).unwrap());
        let windows = windows(min, min + chrono::Duration::days(40));
        assert_tiles(&windows, NaiveDate::MIN, NaiveDate::MIN + Days::new(40));
    }

    proptest! {
        #[test]
        fn any_range_is_tiled_exactly(start in 0i64..20_000, length in 0i64..800, hour in 0u32..24) {
            let since = at(day(2000, 1, 1) + chrono::Duration::days(start), hour);
            let until = since + chrono::Duration::days(length);
            let windows = windows(since, until);
            assert_tiles(&windows, since.date_naive(), until.date_naive());
            let days: u64 = windows.iter().map(|w| (w.to - w.from).num_days() as u64 + 1).sum();
            prop_assert_eq!(days, (until.date_naive() - since.date_naive()).num_days() as u64 + 1);
            prop_assert!(windows.iter().all(|w| (w.to - w.from).num_days() < WINDOW_DAYS as i64));
        }
    }
}
