//! The prefetch ledger: keys fetched ahead of the player and not yet used or given up, and
//! whether each reached a generator (so giving it up counts as waste).

use std::collections::HashMap;

use crate::request::RequestKey;

/// Prefetched keys not yet used or given up.
#[derive(Default)]
pub(crate) struct PrefetchLedger {
    /// Key → whether its job reached a generator.
    records: HashMap<RequestKey, bool>,
}

impl PrefetchLedger {
    /// Notes a prefetch of `key`; `false` if it is noted already.
    pub fn begin(&mut self, key: RequestKey) -> bool {
        if self.records.contains_key(&key) {
            return false;
        }
        self.records.insert(key, false);
        true
    }

    pub fn contains(&self, key: &RequestKey) -> bool {
        self.records.contains_key(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &RequestKey> {
        self.records.keys()
    }

    /// Notes that the prefetch of `key` reached a generator.
    pub fn reached_generator(&mut self, key: &RequestKey) {
        if let Some(reached) = self.records.get_mut(key) {
            *reached = true;
        }
    }

    /// Ends the prefetch of `key` (used or given up); whether it had reached a generator, or
    /// `None` if it was not prefetched.
    pub fn end(&mut self, key: &RequestKey) -> Option<bool> {
        self.records.remove(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefetch_is_noted_once_and_ends_once() {
        let mut ledger = PrefetchLedger::default();
        let key = RequestKey([7; 32]);
        assert!(ledger.begin(key));
        assert!(!ledger.begin(key));
        ledger.reached_generator(&key);
        assert_eq!(ledger.end(&key), Some(true));
        assert_eq!(ledger.end(&key), None);
        assert!(!ledger.contains(&key));
    }
}
