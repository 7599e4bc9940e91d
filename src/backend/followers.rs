//! How many of this client's jobs follow each generation, so a generation is cancelled only when
//! the last job of this client that created it lets go.

use std::collections::HashMap;
use std::time::Duration;

use crate::backend::wire::BackendId;

/// Counts this client's jobs following each generation, so one job's cancel never ends a
/// generation another still needs (the server's dedup can give two requests one generation).
#[derive(Default)]
pub(super) struct Followers {
    following: std::sync::Mutex<HashMap<BackendId, usize>>,
    /// Creates sent whose answer is not yet followed: any of them may name a generation about
    /// to be cancelled (the server's dedup), so cancels wait for them.
    creating: std::sync::atomic::AtomicUsize,
    settled: tokio::sync::Notify,
}

/// A create whose answer is not yet followed; see [`Followers::creating`].
pub(super) struct Creating<'a>(&'a Followers);

impl Drop for Creating<'_> {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        if self.0.creating.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.settled.notify_waiters();
        }
    }
}

impl Followers {
    /// Counts a create as on its way until the returned guard drops (after its answer is
    /// followed, or it failed).
    pub(super) fn creating(&self) -> Creating<'_> {
        self.creating
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Creating(self)
    }

    /// Waits (up to `limit`) until no create of ours is on its way.
    pub(super) async fn settle(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let settled = self.settled.notified();
                tokio::pin!(settled);
                settled.as_mut().enable();
                if self.creating.load(std::sync::atomic::Ordering::Acquire) == 0 {
                    return;
                }
                settled.await;
            }
        })
        .await;
    }

    pub(super) fn enter(&self, id: &BackendId) {
        if let Ok(mut map) = self.following.lock() {
            *map.entry(id.clone()).or_default() += 1;
        }
    }

    /// Whether no job of ours follows `id`.
    pub(super) fn is_unfollowed(&self, id: &BackendId) -> bool {
        self.following.lock().is_ok_and(|map| !map.contains_key(id))
    }

    /// One follower left; `true` when it was the last.
    pub(super) fn leave(&self, id: &BackendId) -> bool {
        let Ok(mut map) = self.following.lock() else {
            return false;
        };
        let Some(count) = map.get_mut(id) else {
            return true;
        };
        *count -= 1;
        if *count == 0 {
            map.remove(id);
            true
        } else {
            false
        }
    }
}
