//! Client-side pacing of provider requests, per credential or account.
//!
//! A limiter holds fixed-window buckets, each spent by some request classes: Fathom has an
//! overall bucket every request spends from and a heavy one only heavy requests also spend
//! from; Zoom has one bucket per category (light, medium, heavy). A bucket starts from its
//! configured budget, then follows what the server reports: `RateLimit-Remaining`/
//! `RateLimit-Reset` narrow the local count and move the window's end, `RateLimit-Limit` can
//! lower (never raise past the configured budget) the limit, and a 429's `Retry-After` empties
//! the class's bucket until then. A request is sent only when its buckets have room, so one
//! process never sends a request that is certain to get a 429.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// `requests` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub requests: u32,
    pub window: Duration,
}

impl Budget {
    pub const fn per_second(requests: u32) -> Self {
        Budget {
            requests,
            window: Duration::from_secs(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestClass {
    Light,
    Medium,
    Heavy,
}

/// One bucket: its budget and the classes of request that spend from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketBudget {
    pub budget: Budget,
    pub spent_by: &'static [RequestClass],
}

/// A provider's buckets. The first bucket (in order) a class spends from is the one the
/// server's rate-limit headers on its answers describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budgets(pub Vec<BucketBudget>);

/// What a response said about the bucket that governed it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerQuota {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    pub reset: Option<Duration>,
}

impl ServerQuota {
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(leading_number)
        };
        ServerQuota {
            limit: number("ratelimit-limit").map(|n| n as u32),
            remaining: number("ratelimit-remaining").map(|n| n as u32),
            reset: number("ratelimit-reset").map(Duration::from_secs_f64),
        }
    }
}

/// The number at the start of a header value (`"30"`, `"0.25"`, `"30;w=60"`).
fn leading_number(raw: &str) -> Option<f64> {
    let raw = raw.trim();
    let end = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    raw[..end]
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0 && *n <= f64::from(u32::MAX))
}

/// SHA-256 of a credential: limiters are keyed by it so no secret is kept as a map key.
pub type Fingerprint = [u8; 32];

pub fn fingerprint(kind: &str, secret: &str) -> Fingerprint {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update([0u8]);
    hasher.update(secret.as_bytes());
    hasher.finalize().into()
}

/// The limiters of every credential (or account) a process uses. Clients of one provider
/// share one registry, so all work done with a credential in this process draws from one
/// budget.
#[derive(Debug)]
pub struct RateLimiterRegistry {
    budgets: Budgets,
    limiters: Mutex<HashMap<Fingerprint, Arc<CredentialLimiter>>>,
}

/// Above this many credentials, idle limiters are dropped when a new one is added.
const PRUNE_ABOVE: usize = 1024;

impl RateLimiterRegistry {
    pub fn new(budgets: Budgets) -> Self {
        RateLimiterRegistry {
            budgets,
            limiters: Mutex::new(HashMap::new()),
        }
    }

    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    pub fn limiter(&self, key: Fingerprint) -> Arc<CredentialLimiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = limiters.get(&key) {
            return existing.clone();
        }
        if limiters.len() >= PRUNE_ABOVE {
            let now = Instant::now();
            limiters.retain(|_, l| Arc::strong_count(l) > 1 || !l.is_idle(now));
        }
        let limiter = Arc::new(CredentialLimiter::new(&self.budgets));
        limiters.insert(key, limiter.clone());
        limiter
    }
}

#[derive(Debug)]
pub struct CredentialLimiter {
    buckets: Mutex<Vec<(Bucket, &'static [RequestClass])>>,
}

#[derive(Debug)]
struct Bucket {
    configured: u32,
    limit: u32,
    window: Duration,
    remaining: u32,
    /// End of the current window; `None` before the first request.
    resets_at: Option<Instant>,
    /// Which local window this is, so answers to requests of an earlier one are ignored.
    epoch: u64,
}

impl Bucket {
    fn new(budget: Budget) -> Self {
        let limit = budget.requests.max(1);
        Bucket {
            configured: limit,
            limit,
            window: budget.window,
            remaining: limit,
            resets_at: None,
            epoch: 0,
        }
    }

    fn roll(&mut self, now: Instant) {
        if self.resets_at.is_none_or(|end| now >= end) {
            self.remaining = self.limit;
            self.resets_at = Some(now + self.window);
            self.epoch += 1;
        }
    }

    fn blocked_until(&self) -> Option<Instant> {
        if self.remaining == 0 {
            self.resets_at
        } else {
            None
        }
    }

    fn observe(&mut self, epoch: u64, quota: ServerQuota, now: Instant) {
        if let Some(limit) = quota.limit {
            self.limit = limit.clamp(1, self.configured);
        }
        if epoch != self.epoch {
            return;
        }
        if let Some(remaining) = quota.remaining {
            self.remaining = self.remaining.min(remaining);
        }
        if let Some(reset) = quota.reset {
            // The server's clock decides where its window ends; measured from the arrival of
            // the answer, the estimate can only be late, never early.
            let server_end = now + reset;
            self.resets_at = Some(self.resets_at.map_or(server_end, |end| end.max(server_end)));
        }
    }

    fn exhaust_for(&mut self, wait: Duration, now: Instant) {
        self.remaining = 0;
        self.resets_at = Some(now + wait);
    }
}

/// Leave to send one request, with the window of the bucket its answer describes.
#[derive(Debug, Clone, Copy)]
pub struct Permit {
    class: RequestClass,
    epoch: u64,
}

impl CredentialLimiter {
    pub fn new(budgets: &Budgets) -> Self {
        CredentialLimiter {
            buckets: Mutex::new(
                budgets
                    .0
                    .iter()
                    .map(|b| (Bucket::new(b.budget), b.spent_by))
                    .collect(),
            ),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(Bucket, &'static [RequestClass])>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the request's buckets have room, then spends one from each.
    pub async fn acquire(&self, class: RequestClass) -> Permit {
        loop {
            let wait_until = {
                let mut buckets = self.lock();
                let now = Instant::now();
                let mut blocked = None;
                for (bucket, spent_by) in buckets.iter_mut() {
                    bucket.roll(now);
                    if spent_by.contains(&class) {
                        blocked = blocked.max(bucket.blocked_until());
                    }
                }
                match blocked {
                    Some(until) => until,
                    None => {
                        let mut epoch = None;
                        for (bucket, spent_by) in buckets.iter_mut() {
                            if spent_by.contains(&class) {
                                bucket.remaining -= 1;
                                epoch.get_or_insert(bucket.epoch);
                            }
                        }
                        return Permit {
                            class,
                            epoch: epoch.unwrap_or_default(),
                        };
                    }
                }
            };
            tokio::time::sleep_until(wait_until).await;
        }
    }

    /// The bucket whose state the answers to `class` describe.
    fn own<'a>(
        buckets: &'a mut [(Bucket, &'static [RequestClass])],
        class: RequestClass,
    ) -> Option<&'a mut Bucket> {
        buckets
            .iter_mut()
            .find(|(_, spent_by)| spent_by.contains(&class))
            .map(|(bucket, _)| bucket)
    }

    /// Takes in what the answer to a permitted request said about its bucket.
    pub fn observe(&self, permit: Permit, quota: ServerQuota) {
        let now = Instant::now();
        let mut buckets = self.lock();
        if let Some(bucket) = Self::own(&mut buckets, permit.class) {
            bucket.observe(permit.epoch, quota, now);
        }
    }

    /// After a 429: nothing of the class is sent until `wait` has passed.
    pub fn exhaust_for(&self, class: RequestClass, wait: Duration) {
        let now = Instant::now();
        let mut buckets = self.lock();
        if let Some(bucket) = Self::own(&mut buckets, class) {
            bucket.exhaust_for(wait, now);
        }
    }

    fn is_idle(&self, now: Instant) -> bool {
        self.lock()
            .iter()
            .all(|(b, _)| b.resets_at.is_none_or(|end| now >= end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    const WINDOW: Duration = Duration::from_secs(60);

    /// Fathom's shape: heavy requests spend from both buckets, light ones from overall.
    fn limiter(overall: u32, heavy: u32) -> CredentialLimiter {
        use RequestClass::{Heavy, Light};
        CredentialLimiter::new(&Budgets(vec![
            BucketBudget {
                budget: Budget {
                    requests: heavy,
                    window: WINDOW,
                },
                spent_by: &[Heavy],
            },
            BucketBudget {
                budget: Budget {
                    requests: overall,
                    window: WINDOW,
                },
                spent_by: &[Light, Heavy],
            },
        ]))
    }

    /// Whether `fut` finishes within `within` of (paused, virtual) time.
    async fn finishes_within<F: Future>(within: Duration, fut: F) -> bool {
        tokio::time::timeout(within, fut).await.is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_waits_for_the_next_window() {
        let limiter = limiter(2, 2);
        limiter.acquire(RequestClass::Light).await;
        limiter.acquire(RequestClass::Light).await;
        assert!(
            !finishes_within(
                Duration::from_secs(59),
                limiter.acquire(RequestClass::Light)
            )
            .await
        );
        assert!(
            finishes_within(Duration::from_secs(2), limiter.acquire(RequestClass::Light)).await
        );
    }

    #[tokio::test(start_paused = true)]
    async fn heavy_requests_spend_both_buckets_light_ones_only_overall() {
        let limiter = limiter(3, 1);
        limiter.acquire(RequestClass::Heavy).await;
        assert!(
            !finishes_within(Duration::from_secs(1), limiter.acquire(RequestClass::Heavy)).await
        );
        assert!(finishes_within(Duration::ZERO, limiter.acquire(RequestClass::Light)).await);
        assert!(finishes_within(Duration::ZERO, limiter.acquire(RequestClass::Light)).await);
        assert!(
            !finishes_within(Duration::from_secs(1), limiter.acquire(RequestClass::Light)).await
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_servers_remaining_and_reset_are_followed() {
        let limiter = limiter(60, 30);
        let permit = limiter.acquire(RequestClass::Light).await;
        limiter.observe(
            permit,
            ServerQuota {
                limit: Some(60),
                remaining: Some(0),
                reset: Some(Duration::from_secs(90)),
            },
        );
        assert!(
            !finishes_within(
                Duration::from_secs(89),
                limiter.acquire(RequestClass::Light)
            )
            .await
        );
        assert!(
            finishes_within(Duration::from_secs(2), limiter.acquire(RequestClass::Light)).await
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lowered_limit_applies_from_the_next_window_and_is_never_raised_past_the_budget() {
        let limiter = limiter(60, 30);
        let permit = limiter.acquire(RequestClass::Heavy).await;
        let lowered = ServerQuota {
            limit: Some(2),
            remaining: Some(1),
            reset: Some(WINDOW),
        };
        limiter.observe(permit, lowered);
        limiter.acquire(RequestClass::Heavy).await;
        tokio::time::sleep(WINDOW + Duration::from_secs(1)).await;
        limiter.acquire(RequestClass::Heavy).await;
        limiter.acquire(RequestClass::Heavy).await;
        assert!(
            !finishes_within(
                Duration::from_secs(10),
                limiter.acquire(RequestClass::Heavy)
            )
            .await
        );

        let raised = ServerQuota {
            limit: Some(500),
            ..ServerQuota::default()
        };
        let permit = limiter.acquire(RequestClass::Heavy).await;
        limiter.observe(permit, raised);
        assert_eq!(limiter.lock()[0].0.limit, 30);
    }

    #[tokio::test(start_paused = true)]
    async fn answers_from_an_earlier_window_do_not_drain_the_current_one() {
        let limiter = limiter(60, 30);
        let stale = limiter.acquire(RequestClass::Light).await;
        tokio::time::sleep(WINDOW + Duration::from_secs(1)).await;
        limiter.acquire(RequestClass::Light).await;
        limiter.observe(
            stale,
            ServerQuota {
                limit: Some(60),
                remaining: Some(0),
                reset: Some(Duration::from_secs(1)),
            },
        );
        assert!(finishes_within(Duration::ZERO, limiter.acquire(RequestClass::Light)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_holds_the_class_back_for_that_long() {
        let limiter = limiter(60, 30);
        limiter.exhaust_for(RequestClass::Heavy, Duration::from_secs(5));
        assert!(finishes_within(Duration::ZERO, limiter.acquire(RequestClass::Light)).await);
        assert!(
            !finishes_within(Duration::from_secs(4), limiter.acquire(RequestClass::Heavy)).await
        );
        assert!(
            finishes_within(Duration::from_secs(2), limiter.acquire(RequestClass::Heavy)).await
        );
    }

    #[test]
    fn headers_are_read_whole_fractional_or_with_parameters() {
        let mut headers = http::HeaderMap::new();
        headers.insert("RateLimit-Limit", "30;w=60".parse().unwrap());
        headers.insert("RateLimit-Remaining", "7".parse().unwrap());
        headers.insert("RateLimit-Reset", "0.25".parse().unwrap());
        headers.insert("Retry-After", "2".parse().unwrap());
        let quota = ServerQuota::from_headers(&headers);
        assert_eq!(quota.limit, Some(30));
        assert_eq!(quota.remaining, Some(7));
        assert_eq!(quota.reset, Some(Duration::from_millis(250)));
    }

    #[tokio::test(start_paused = true)]
    async fn each_category_has_its_own_bucket_when_they_share_none() {
        use RequestClass::{Heavy, Light, Medium};
        let limiter = CredentialLimiter::new(&Budgets(vec![
            BucketBudget {
                budget: Budget::per_second(2),
                spent_by: &[Light],
            },
            BucketBudget {
                budget: Budget::per_second(1),
                spent_by: &[Medium],
            },
            BucketBudget {
                budget: Budget::per_second(1),
                spent_by: &[Heavy],
            },
        ]));
        limiter.acquire(Medium).await;
        assert!(!finishes_within(Duration::from_millis(900), limiter.acquire(Medium)).await);
        assert!(finishes_within(Duration::ZERO, limiter.acquire(Light)).await);
        assert!(finishes_within(Duration::ZERO, limiter.acquire(Heavy)).await);
    }

    #[test]
    fn the_registry_hands_out_one_limiter_per_credential() {
        let registry = RateLimiterRegistry::new(Budgets(Vec::new()));
        let a = registry.limiter(fingerprint("api_key", "a"));
        let again = registry.limiter(fingerprint("api_key", "a"));
        let b = registry.limiter(fingerprint("api_key", "b"));
        let bearer_a = registry.limiter(fingerprint("bearer", "a"));
        assert!(Arc::ptr_eq(&a, &again));
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &bearer_a));
    }
}
