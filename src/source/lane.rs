//! [`LaneFlag`]: whether a request is in the foreground (a player waits for it) or a prefetch,
//! shared by every part that treats the two differently.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether a job is in the foreground; shared so a background job can be promoted while it
/// waits (a player asked for what was being prefetched).
#[derive(Clone, Debug)]
pub(crate) struct LaneFlag(Arc<AtomicBool>);

impl LaneFlag {
    pub fn new(foreground: bool) -> Self {
        Self(Arc::new(AtomicBool::new(foreground)))
    }

    pub fn is_foreground(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    pub fn promote(&self) {
        self.0.store(true, Ordering::Release);
    }
}
