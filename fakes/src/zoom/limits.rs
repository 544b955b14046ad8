//! Zoom's rate limits as the fake enforces them: per account (shared by every app and token of
//! that account), per category, a budget of requests per window (one second at Zoom). A window
//! starts with the first request of its category; rejected requests do not count.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Requests per window, by category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoomRateLimits {
    /// `GET /users/me` and other reads of small objects.
    pub light: u32,
    /// Listing recordings and reading one meeting's recordings.
    pub medium: u32,
    /// Recording downloads.
    pub heavy: u32,
}

impl ZoomRateLimits {
    /// A Free account's per-second budgets.
    pub const FREE: ZoomRateLimits = ZoomRateLimits {
        light: 4,
        medium: 2,
        heavy: 1,
    };
    /// A Pro account's per-second budgets.
    pub const PRO: ZoomRateLimits = ZoomRateLimits {
        light: 30,
        medium: 20,
        heavy: 10,
    };
    /// A Business (or higher) account's per-second budgets.
    pub const BUSINESS: ZoomRateLimits = ZoomRateLimits {
        light: 80,
        medium: 60,
        heavy: 40,
    };
}

impl Default for ZoomRateLimits {
    /// Generous, so tests only meet a limit when they lower it on purpose.
    fn default() -> Self {
        ZoomRateLimits {
            light: 100,
            medium: 100,
            heavy: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Category {
    Light,
    Medium,
    Heavy,
}

impl Category {
    /// As Zoom names it in `X-RateLimit-Category`.
    pub fn name(self) -> &'static str {
        match self {
            Category::Light => "Light",
            Category::Medium => "Medium",
            Category::Heavy => "Heavy",
        }
    }

    pub fn budget(self, limits: &ZoomRateLimits) -> u32 {
        match self {
            Category::Light => limits.light,
            Category::Medium => limits.medium,
            Category::Heavy => limits.heavy,
        }
    }
}

struct Window {
    started: Instant,
    used: u32,
}

#[derive(Default)]
pub(crate) struct RateWindows {
    windows: HashMap<(String, Category), Window>,
}

impl RateWindows {
    /// Counts a request of `account` against its category's window, or answers how long until
    /// the window ends.
    pub fn admit(
        &mut self,
        account: &str,
        category: Category,
        budget: u32,
        length: Duration,
        now: Instant,
    ) -> Result<(), Duration> {
        let window = self
            .windows
            .entry((account.to_owned(), category))
            .or_insert(Window {
                started: now,
                used: 0,
            });
        let elapsed = now.duration_since(window.started);
        if elapsed >= length {
            *window = Window {
                started: now,
                used: 0,
            };
        }
        if window.used >= budget {
            return Err(length.saturating_sub(now.duration_since(window.started)));
        }
        window.used += 1;
        Ok(())
    }
}

/// `Retry-After`: whole seconds rounded up, or, with `fractional`, milliseconds rounded up (a
/// one-second window leaves less than a second to wait, which whole seconds overstate).
pub(crate) fn seconds(duration: Duration, fractional: bool) -> String {
    if fractional {
        let millis = duration.as_micros().div_ceil(1000);
        format!("{}.{:03}", millis / 1000, millis % 1000)
    } else {
        duration.as_millis().div_ceil(1000).max(1).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_have_their_own_budgets_per_account_and_windows_reset() {
        let second = Duration::from_secs(1);
        let mut windows = RateWindows::default();
        let t0 = Instant::now();
        assert!(windows.admit("a", Category::Medium, 2, second, t0).is_ok());
        assert!(windows.admit("a", Category::Medium, 2, second, t0).is_ok());
        let wait = windows.admit(
            "a",
            Category::Medium,
            2,
            second,
            t0 + Duration::from_millis(300),
        );
        assert_eq!(wait, Err(Duration::from_millis(700)));
        assert!(windows.admit("a", Category::Light, 1, second, t0).is_ok());
        assert!(windows.admit("b", Category::Medium, 2, second, t0).is_ok());
        assert!(windows
            .admit("a", Category::Medium, 2, second, t0 + second)
            .is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(seconds(Duration::from_millis(1), false), "1");
        assert_eq!(seconds(Duration::ZERO, false), "1");
        assert_eq!(seconds(Duration::from_millis(1001), false), "2");
        assert_eq!(seconds(Duration::from_micros(250_001), true), "0.251");
    }
}
