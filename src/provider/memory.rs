//! The memory tier: completed media kept for the session, so repeated requests are answered on
//! the frame. Least recently used goes first once it is full.

use std::collections::HashMap;

use crate::provider::task::MediaHandle;
use crate::request::RequestKey;

struct Entry {
    handle: MediaHandle,
    last_used: u64,
}

/// Completed media by key, holding each handle (and so its media) alive.
pub(crate) struct MemoryTier {
    capacity: usize,
    entries: HashMap<RequestKey, Entry>,
    clock: u64,
}

impl MemoryTier {
    /// A tier keeping at most `capacity` results (0: none).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
            clock: 0,
        }
    }

    /// The media for `key`, marked as just used.
    pub fn touch(&mut self, key: &RequestKey) -> Option<MediaHandle> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(key).map(|entry| {
            entry.last_used = clock;
            entry.handle.clone()
        })
    }

    /// The media for `key`, without marking it used.
    pub fn get(&self, key: &RequestKey) -> Option<MediaHandle> {
        self.entries.get(key).map(|entry| entry.handle.clone())
    }

    pub fn contains(&self, key: &RequestKey) -> bool {
        self.entries.contains_key(key)
    }

    /// Keeps `handle` for `key`, making room by dropping the least recently used.
    pub fn remember(&mut self, key: RequestKey, handle: MediaHandle) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            // A scan is fine at the sizes a memory tier has.
            if let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(key, _)| *key)
            {
                self.entries.remove(&oldest);
            }
        }
        self.clock += 1;
        self.entries.insert(
            key,
            Entry {
                handle,
                last_used: self.clock,
            },
        );
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::prelude::Handle;

    fn handle() -> MediaHandle {
        MediaHandle::Image(Handle::default())
    }

    #[test]
    fn the_least_recently_used_goes_first() {
        let mut tier = MemoryTier::new(2);
        let (a, b, c) = (
            RequestKey([1; 32]),
            RequestKey([2; 32]),
            RequestKey([3; 32]),
        );
        tier.remember(a, handle());
        tier.remember(b, handle());
        assert!(tier.touch(&a).is_some());
        tier.remember(c, handle());
        assert!(tier.contains(&a) && tier.contains(&c) && !tier.contains(&b));
        assert_eq!(tier.len(), 2);
    }

    #[test]
    fn a_tier_of_no_capacity_keeps_nothing() {
        let mut tier = MemoryTier::new(0);
        tier.remember(RequestKey([1; 32]), handle());
        assert_eq!(tier.len(), 0);
    }
}
