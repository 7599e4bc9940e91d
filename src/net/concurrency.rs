//! [`ConcurrencyLimit`]: at most so many requests at once, shared by whoever holds a clone.

use std::fmt;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{AssetError, AssetErrorKind};

/// A limit on requests in flight at once. Clones share the limit: give one to several clients
/// (several sources on one server) and they share its slots.
#[derive(Clone)]
pub struct ConcurrencyLimit {
    semaphore: Arc<Semaphore>,
    limit: usize,
}

impl ConcurrencyLimit {
    /// At most `limit` (at least 1) at once.
    pub fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            semaphore: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// How many may run at once.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many slots are free now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    /// Waits for a slot; the slot is free again when the permit drops.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, AssetError> {
        self.semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AssetError::new(AssetErrorKind::Shutdown, "the client is closing"))
    }
}

impl fmt::Debug for ConcurrencyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimit")
            .field("limit", &self.limit)
            .field("available", &self.available())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clones_share_the_slots() {
        let limit = ConcurrencyLimit::new(2);
        let other = limit.clone();
        let first = limit.acquire().await.unwrap();
        let _second = other.acquire().await.unwrap();
        assert_eq!(limit.available(), 0);
        drop(first);
        assert_eq!(other.available(), 1);
        assert_eq!(ConcurrencyLimit::new(0).limit(), 1);
    }
}
