//! `next_page_token`s of the recordings list: opaque, valid for a while (15 minutes at Zoom),
//! and only for the listing they came from (same user, same date range).

use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;
use std::time::Instant;

/// Where a listing stopped: after this meeting, in listing order (newest first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageMark {
    pub user: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub after: (DateTime<Utc>, String),
    pub expires_at: Instant,
}

#[derive(Default)]
pub(crate) struct Pages {
    marks: HashMap<String, PageMark>,
}

impl Pages {
    pub fn insert(&mut self, token: String, mark: PageMark) {
        self.marks.insert(token, mark);
    }

    /// The mark of a live token issued for this listing.
    pub fn resolve(
        &self,
        token: &str,
        user: &str,
        from: NaiveDate,
        to: NaiveDate,
        now: Instant,
    ) -> Option<&PageMark> {
        self.marks
            .get(token)
            .filter(|m| m.user == user && m.from == from && m.to == to && now < m.expires_at)
    }

    pub fn expire_all(&mut self, now: Instant) {
        for mark in self.marks.values_mut() {
            mark.expires_at = now;
        }
    }
}
