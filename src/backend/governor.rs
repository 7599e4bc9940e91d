//! [`CreateGovernor`]: keeps a client's creates under the server's rate limit, shared by every
//! request, with the player's own requests first.
//!
//! The real service refuses the 21st create in a minute per user with a 429. A burst of
//! prefetches must never get the player's request refused, so creates pass through a sliding
//! window of `per_minute` slots: background work may take all but a reserve of them, and a free
//! slot goes to a waiting foreground create before any background one. A 429 the server sends
//! anyway (another client on the same account) closes the window until the server's wait ends.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::source::LaneFlag;

/// The window the limit counts over.
const WINDOW: Duration = Duration::from_secs(60);

struct State {
    /// When each create in the window was let through, oldest first.
    sent: VecDeque<Instant>,
    /// No create until then (the server said 429).
    closed_until: Option<Instant>,
    foreground_waiting: usize,
}

/// What a create may do now.
enum Turn {
    /// Go: counted in the window.
    Go,
    /// Wait until then at most (or until the governor changes), then look again.
    WaitUntil(Option<Instant>),
}

/// The create rate limit of one client.
pub(crate) struct CreateGovernor {
    per_minute: usize,
    /// Slots background creates may not take.
    reserve: usize,
    state: Mutex<State>,
    changed: Notify,
}

/// Counts a foreground create as waiting until it is let through or gives up.
struct Waiting<'a>(&'a CreateGovernor);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.0.state.lock() {
            state.foreground_waiting -= 1;
        }
        self.0.changed.notify_waiters();
    }
}

impl CreateGovernor {
    /// A governor letting `per_minute` creates through in any 60 seconds (0: no limit of its
    /// own; a server's wait still holds).
    pub fn new(per_minute: u32) -> Self {
        let per_minute = per_minute as usize;
        Self {
            per_minute,
            reserve: if per_minute > 1 {
                (per_minute / 4).max(1)
            } else {
                0
            },
            state: Mutex::new(State {
                sent: VecDeque::new(),
                closed_until: None,
                foreground_waiting: 0,
            }),
            changed: Notify::new(),
        }
    }

    /// Waits until a create in `lane` may be sent, and counts it. A server's wait
    /// ([`close_for`](Self::close_for)) holds whatever the budget, `0` (no limit) included.
    pub async fn admit(&self, lane: &LaneFlag) {
        let mut waiting: Option<Waiting<'_>> = None;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let wake_at = match self.turn(lane, &mut waiting) {
                Turn::Go => return,
                Turn::WaitUntil(at) => at,
            };
            match wake_at {
                Some(at) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Whether a create on `lane` may go now (counted in the window if so), or until when it
    /// waits at most before looking again. A foreground create counts itself as `waiting` the
    /// first time it has to wait.
    fn turn<'a>(&'a self, lane: &LaneFlag, waiting: &mut Option<Waiting<'a>>) -> Turn {
        let Ok(mut state) = self.state.lock() else {
            return Turn::Go;
        };
        let now = Instant::now();
        while state
            .sent
            .front()
            .is_some_and(|sent| now.duration_since(*sent) >= WINDOW)
        {
            state.sent.pop_front();
        }
        let foreground = lane.is_foreground();
        let open = state.closed_until.is_none_or(|until| until <= now);
        if self.per_minute == 0 {
            // No window to count in: only the server's wait holds a create back.
            return if open {
                Turn::Go
            } else {
                Turn::WaitUntil(state.closed_until)
            };
        }
        if foreground && waiting.is_none() {
            state.foreground_waiting += 1;
            *waiting = Some(Waiting(self));
        }
        let limit = if foreground {
            self.per_minute
        } else {
            self.per_minute - self.reserve
        };
        let turn = foreground || state.foreground_waiting == 0;
        if open && turn && state.sent.len() < limit.max(1) {
            state.sent.push_back(now);
            drop(state);
            drop(waiting.take());
            return Turn::Go;
        }
        // The next moment anything can change: the window's oldest slot frees, or the server's
        // wait ends.
        let slot_frees = state.sent.front().map(|sent| *sent + WINDOW);
        let reopens = state.closed_until.filter(|until| *until > now);
        Turn::WaitUntil(match (reopens, slot_frees) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// No create goes out for `wait`: the server answered 429.
    pub fn close_for(&self, wait: Duration) {
        if let Ok(mut state) = self.state.lock() {
            let until = Instant::now() + wait.min(WINDOW * 60);
            state.closed_until = Some(state.closed_until.map_or(until, |old| old.max(until)));
        }
        self.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn no_more_than_the_limit_goes_out_in_a_minute() {
        let governor = Arc::new(CreateGovernor::new(4));
        let sent = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (governor, sent) = (governor.clone(), sent.clone());
            tasks.push(tokio::spawn(async move {
                governor.admit(&LaneFlag::new(true)).await;
                sent.fetch_add(1, Ordering::SeqCst);
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for task in tasks {
            times.push(task.await.unwrap().duration_since(start));
        }
        times.sort();
        assert_eq!(sent.load(Ordering::SeqCst), 10);
        // Four at once, four a minute later, two a minute after that.
        assert!(times[3] < Duration::from_secs(1), "{times:?}");
        assert!(times[4] >= WINDOW && times[7] < WINDOW * 2, "{times:?}");
        assert!(times[8] >= WINDOW * 2, "{times:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn prefetches_leave_room_and_the_player_goes_first() {
        let governor = Arc::new(CreateGovernor::new(8));
        // Background work takes at most 8 - 2 slots.
        let mut background = Vec::new();
        for _ in 0..7 {
            let governor = governor.clone();
            background.push(tokio::spawn(async move {
                governor.admit(&LaneFlag::new(false)).await;
                Instant::now()
            }));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        let start = Instant::now();
        governor.admit(&LaneFlag::new(true)).await;
        assert!(
            start.elapsed() < Duration::from_millis(1),
            "the reserve was free"
        );
        let mut times = Vec::new();
        for task in background {
            times.push(task.await.unwrap());
        }
        times.sort();
        assert!(times[5].duration_since(start) < Duration::from_secs(1));
        assert!(times[6].duration_since(start) >= WINDOW - Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_wait_closes_the_window() {
        let governor = CreateGovernor::new(20);
        governor.close_for(Duration::from_secs(30));
        let start = Instant::now();
        governor.admit(&LaneFlag::new(true)).await;
        assert!(start.elapsed() >= Duration::from_secs(30));
        // An absurd wait is capped.
        governor.close_for(Duration::MAX);
        let unlimited = CreateGovernor::new(0);
        unlimited.admit(&LaneFlag::new(false)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_wait_holds_even_without_a_budget() {
        let governor = Arc::new(CreateGovernor::new(0));
        // No budget: nothing waits while the server has not refused anything.
        let start = Instant::now();
        for _ in 0..100 {
            governor.admit(&LaneFlag::new(false)).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        governor.close_for(Duration::from_secs(30));
        let mut tasks = Vec::new();
        for foreground in [true, false] {
            let governor = governor.clone();
            tasks.push(tokio::spawn(async move {
                governor.admit(&LaneFlag::new(foreground)).await;
                Instant::now()
            }));
        }
        for task in tasks {
            let waited = task.await.unwrap().duration_since(start);
            assert!(waited >= Duration::from_secs(30), "sent after {waited:?}");
            assert!(waited < Duration::from_secs(31), "sent after {waited:?}");
        }
        // Open again: no wait.
        let again = Instant::now();
        governor.admit(&LaneFlag::new(false)).await;
        assert_eq!(again.elapsed(), Duration::ZERO);
    }
}
