//! Fathom's rate limits as the fake enforces them: per credential, a fixed window that starts
//! with the credential's first request, 60 requests overall and 30 heavy ones per window by
//! default. Rejected requests do not count.

use axum::http::{HeaderMap, HeaderValue};
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Light,
    Heavy,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Quota {
    pub limit: u32,
    pub remaining: u32,
    pub reset: Duration,
}

pub(crate) enum Decision {
    Allowed(Quota),
    Limited { quota: Quota, retry_after: Duration },
}

struct Window {
    started: Instant,
    overall: u32,
    heavy: u32,
}

#[derive(Default)]
pub(crate) struct RateLimits {
    windows: HashMap<String, Window>,
}

pub(crate) struct Limits {
    pub overall: u32,
    pub heavy: u32,
    pub window: Duration,
}

impl RateLimits {
    /// Counts the request against `key`'s window, or refuses it. The quota returned describes
    /// the bucket of the request's class.
    pub fn admit(&mut self, key: &str, class: Class, limits: &Limits, now: Instant) -> Decision {
        let window = self.windows.entry(key.to_owned()).or_insert(Window {
            started: now,
            overall: 0,
            heavy: 0,
        });
        if now.duration_since(window.started) >= limits.window {
            *window = Window {
                started: now,
                overall: 0,
                heavy: 0,
            };
        }
        let reset = limits
            .window
            .saturating_sub(now.duration_since(window.started));
        let heavy = class == Class::Heavy;
        let full = window.overall >= limits.overall || (heavy && window.heavy >= limits.heavy);
        if !full {
            window.overall += 1;
            if heavy {
                window.heavy += 1;
            }
        }
        let quota = if heavy {
            Quota {
                limit: limits.heavy,
                remaining: limits.heavy.saturating_sub(window.heavy),
                reset,
            }
        } else {
            Quota {
                limit: limits.overall,
                remaining: limits.overall.saturating_sub(window.overall),
                reset,
            }
        };
        if full {
            Decision::Limited {
                quota: Quota {
                    remaining: 0,
                    ..quota
                },
                retry_after: reset,
            }
        } else {
            Decision::Allowed(quota)
        }
    }
}

/// Seconds for `RateLimit-Reset` and `Retry-After`: whole seconds rounded up (as Fathom sends
/// them), or, with `fractional`, milliseconds precision rounded up, for shortened windows.
pub(crate) fn seconds(duration: Duration, fractional: bool) -> String {
    if fractional {
        let millis = duration.as_micros().div_ceil(1000);
        format!("{}.{:03}", millis / 1000, millis % 1000)
    } else {
        duration.as_millis().div_ceil(1000).to_string()
    }
}

pub(crate) fn write_headers(headers: &mut HeaderMap, quota: &Quota, fractional: bool) {
    let pairs = [
        ("ratelimit-limit", quota.limit.to_string()),
        ("ratelimit-remaining", quota.remaining.to_string()),
        ("ratelimit-reset", seconds(quota.reset, fractional)),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up() {
        assert_eq!(seconds(Duration::from_millis(1), false), "1");
        assert_eq!(seconds(Duration::from_millis(1000), false), "1");
        assert_eq!(seconds(Duration::from_millis(1001), false), "2");
        assert_eq!(seconds(Duration::from_micros(250_001), true), "0.251");
        assert_eq!(seconds(Duration::from_millis(1500), true), "1.500");
    }

    #[test]
    fn heavy_requests_stop_at_the_heavy_limit_and_windows_reset() {
        let limits = Limits {
            overall: 3,
            heavy: 1,
            window: Duration::from_secs(60),
        };
        let mut rl = RateLimits::default();
        let t0 = Instant::now();
        assert!(
            matches!(rl.admit("k", Class::Heavy, &limits, t0), Decision::Allowed(q) if q.remaining == 0)
        );
        assert!(matches!(
            rl.admit("k", Class::Heavy, &limits, t0),
            Decision::Limited { .. }
        ));
        assert!(
            matches!(rl.admit("k", Class::Light, &limits, t0), Decision::Allowed(q) if q.remaining == 1)
        );
        assert!(matches!(
            rl.admit("other", Class::Heavy, &limits, t0),
            Decision::Allowed(_)
        ));
        assert!(
            matches!(rl.admit("k", Class::Light, &limits, t0), Decision::Allowed(q) if q.remaining == 0)
        );
        assert!(matches!(
            rl.admit("k", Class::Light, &limits, t0),
            Decision::Limited { .. }
        ));
        let later = t0 + Duration::from_secs(60);
        assert!(matches!(
            rl.admit("k", Class::Heavy, &limits, later),
            Decision::Allowed(_)
        ));
    }
}
