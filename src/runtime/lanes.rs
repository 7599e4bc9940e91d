//! Priority lanes for generator slots: what the player waits for goes first, prefetching fills
//! what is left.
//!
//! There are `slots` generator calls at once. Background work may hold at most `slots - 1` of
//! them, so one is always free for the foreground, and a free slot goes to a waiting foreground
//! job before any background job. A foreground request therefore waits for at most one slot's
//! worth of background work, never for the whole background queue.

use std::sync::Mutex;

use tokio::sync::Notify;

use crate::source::LaneFlag;

#[derive(Debug)]
struct State {
    free: usize,
    background_running: usize,
    foreground_waiting: usize,
}

/// The generator slots, shared by both lanes.
#[derive(Debug)]
pub(crate) struct LanePermits {
    state: Mutex<State>,
    max_background: usize,
    changed: Notify,
}

/// A held slot; dropping it frees the slot.
pub(crate) struct LanePermit<'a> {
    permits: &'a LanePermits,
    background: bool,
}

impl Drop for LanePermit<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.permits.state.lock() {
            state.free += 1;
            if self.background {
                state.background_running -= 1;
            }
        }
        self.permits.changed.notify_waiters();
    }
}

/// Counts a foreground job as waiting until it gets a slot or stops waiting.
struct Waiting<'a>(&'a LanePermits);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.0.state.lock() {
            state.foreground_waiting -= 1;
        }
        // Background jobs held back for this one may go now.
        self.0.changed.notify_waiters();
    }
}

impl LanePermits {
    pub fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        Self {
            state: Mutex::new(State {
                free: slots,
                background_running: 0,
                foreground_waiting: 0,
            }),
            // With a single slot, background work may use it when nothing else waits.
            max_background: (slots - 1).max(1),
            changed: Notify::new(),
        }
    }

    /// Wakes waiting jobs to look at their lane again (one was promoted).
    pub fn wake(&self) {
        self.changed.notify_waiters();
    }

    /// Waits for a slot in `lane`'s turn.
    pub async fn acquire(&self, lane: &LaneFlag) -> LanePermit<'_> {
        let mut waiting: Option<Waiting<'_>> = None;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registered before looking, so a release between the look and the wait is seen.
            notified.as_mut().enable();
            {
                let Ok(mut state) = self.state.lock() else {
                    // A poisoned lock means a panic elsewhere; run rather than hang.
                    return LanePermit {
                        permits: self,
                        background: false,
                    };
                };
                let foreground = lane.is_foreground();
                if foreground {
                    if state.free > 0 {
                        state.free -= 1;
                        drop(state);
                        drop(waiting.take());
                        return LanePermit {
                            permits: self,
                            background: false,
                        };
                    }
                    if waiting.is_none() {
                        state.foreground_waiting += 1;
                        waiting = Some(Waiting(self));
                    }
                } else if state.free > 0
                    && state.foreground_waiting == 0
                    && state.background_running < self.max_background
                {
                    state.free -= 1;
                    state.background_running += 1;
                    return LanePermit {
                        permits: self,
                        background: true,
                    };
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    #[test]
    fn background_work_leaves_a_slot_for_the_foreground() {
        runtime().block_on(async {
            let permits = LanePermits::new(3);
            let background = LaneFlag::new(false);
            let first = permits.acquire(&background).await;
            let second = permits.acquire(&background).await;
            // A third background job must wait: the last slot is the foreground's.
            let third =
                tokio::time::timeout(Duration::from_millis(20), permits.acquire(&background)).await;
            assert!(third.is_err());
            let foreground = LaneFlag::new(true);
            let now =
                tokio::time::timeout(Duration::from_millis(20), permits.acquire(&foreground)).await;
            assert!(now.is_ok(), "the foreground starts at once");
            drop((first, second));
        });
    }

    #[test]
    fn a_freed_slot_goes_to_the_foreground_first() {
        runtime().block_on(async {
            let permits = Arc::new(LanePermits::new(2));
            let held_fg = permits.acquire(&LaneFlag::new(true)).await;
            let held_bg = permits.acquire(&LaneFlag::new(false)).await;
            // A background job queues first, then a foreground one.
            let background = {
                let permits = permits.clone();
                tokio::spawn(async move {
                    let _permit = permits.acquire(&LaneFlag::new(false)).await;
                    std::future::pending::<()>().await;
                })
            };
            tokio::task::yield_now().await;
            let (got, got_rx) = tokio::sync::oneshot::channel();
            let foreground = {
                let permits = permits.clone();
                tokio::spawn(async move {
                    let _permit = permits.acquire(&LaneFlag::new(true)).await;
                    let _ = got.send(());
                    std::future::pending::<()>().await;
                })
            };
            tokio::task::yield_now().await;
            drop(held_bg);
            // Only one slot came free: had the background job taken it, this would time out.
            let served = tokio::time::timeout(Duration::from_millis(200), got_rx).await;
            assert!(served.is_ok(), "the foreground job got the freed slot");
            background.abort();
            foreground.abort();
            drop(held_fg);
        });
    }

    #[test]
    fn a_promoted_job_stops_waiting_behind_background_limits() {
        runtime().block_on(async {
            let permits = LanePermits::new(2);
            let _one = permits.acquire(&LaneFlag::new(false)).await;
            let lane = LaneFlag::new(false);
            let blocked =
                tokio::time::timeout(Duration::from_millis(20), permits.acquire(&lane)).await;
            assert!(
                blocked.is_err(),
                "one background job at most with two slots"
            );
            lane.promote();
            permits.wake();
            let now = tokio::time::timeout(Duration::from_millis(20), permits.acquire(&lane)).await;
            assert!(now.is_ok());
        });
    }
}
