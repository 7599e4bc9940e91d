//! Requests awaited from async code: the [`MediaReady`] future and the provider's side of it,
//! [`Waiters`]. The future is a holder of the request's job like an entity's task is; dropping
//! it before it resolves is that holder leaving, which the frame hears through [`Waiters`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crossbeam_channel::{Receiver, Sender};
use tokio::sync::oneshot;

use crate::error::{AssetError, AssetErrorKind};
use crate::provider::task::{GenerationTask, MediaHandle, TaskStatus};
use crate::request::RequestKey;
use crate::runtime::JobId;

/// What a waiter is told when its job ends.
pub(crate) type ReadyResult = Result<MediaHandle, AssetError>;

/// The provider's end of a waiter: where to send the result.
#[derive(Debug)]
pub(crate) struct WaiterSlot {
    pub id: u64,
    pub sender: oneshot::Sender<ReadyResult>,
}

/// A waiter that went away before its job ended.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WaiterLeft {
    pub job: JobId,
    pub waiter: u64,
}

/// The provider's side of the futures: new waiter slots, and those dropped before their job
/// ended.
pub(crate) struct Waiters {
    left: (Sender<WaiterLeft>, Receiver<WaiterLeft>),
    next: u64,
}

impl Default for Waiters {
    fn default() -> Self {
        Self {
            left: crossbeam_channel::unbounded(),
            next: 0,
        }
    }
}

/// The future's end of a waiter's slot.
pub(crate) type ReadyReceiver = oneshot::Receiver<ReadyResult>;

impl Waiters {
    /// A new waiter: the slot its job's end is sent to, and the future's end of it.
    pub fn new_waiter(&mut self) -> (WaiterSlot, ReadyReceiver) {
        let (sender, receiver) = oneshot::channel();
        self.next += 1;
        let slot = WaiterSlot {
            id: self.next,
            sender,
        };
        (slot, receiver)
    }

    /// The future of waiter `id`, now a holder of `job`.
    pub fn waiting(
        &self,
        key: RequestKey,
        receiver: ReadyReceiver,
        job: JobId,
        id: u64,
    ) -> MediaReady {
        MediaReady {
            key,
            state: State::Waiting {
                receiver,
                left: self.left.0.clone(),
                job,
                waiter: id,
            },
        }
    }

    /// The future of a request just started or joined by waiter `id`.
    pub fn future_of(&self, task: GenerationTask, receiver: ReadyReceiver, id: u64) -> MediaReady {
        match (task.status, task.job) {
            (TaskStatus::Completed, _) => MediaReady::done(task.key, Ok(task.handle)),
            (_, Some(job)) if !task.status.is_terminal() => {
                self.waiting(task.key, receiver, job, id)
            }
            _ => MediaReady::done(
                task.key,
                Err(task.error.unwrap_or_else(|| {
                    AssetError::new(AssetErrorKind::Shutdown, "the request could not start")
                })),
            ),
        }
    }

    /// Whether a future was dropped before its job ended.
    pub fn has_departed(&self) -> bool {
        !self.left.1.is_empty()
    }

    /// The futures dropped before their job ended, since the last call.
    pub fn departed(&self) -> impl Iterator<Item = WaiterLeft> + '_ {
        self.left.1.try_iter()
    }
}

/// A future that resolves to the request's handle once the real media is behind it, or to the
/// error the request ended with (failed, timed out, cancelled, or the provider stopped).
///
/// Made by [`AssetProvider::ready`](crate::AssetProvider::ready) and
/// [`request_ready`](crate::AssetProvider::request_ready). It does not need the frame: await it
/// in a Bevy task or any async code, while the app keeps running its schedule (the result is
/// handed over by the plugin's systems). It is `Send` and `'static`.
///
/// While it waits it holds the request like an entity's task does: dropping it unresolved gives
/// up that hold, and the job is cancelled when nobody else holds it.
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy::tasks::AsyncComputeTaskPool;
/// # use bevy_asset_provider::prelude::*;
/// fn load_cover(mut provider: ResMut<AssetProvider>) {
///     let ready = provider.request_ready(AssetRequest::image().prompt("the book's cover"));
///     AsyncComputeTaskPool::get()
///         .spawn(async move {
///             match ready.await {
///                 Ok(handle) => info!("cover ready: {handle:?}"),
///                 Err(error) => warn!("no cover: {error}"),
///             }
///         })
///         .detach();
/// }
/// ```
#[must_use = "a request awaited by nobody is given up when this is dropped"]
#[derive(Debug)]
pub struct MediaReady {
    key: RequestKey,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Known at once (memory hit, unknown key, stopped runtime).
    Done(Option<ReadyResult>),
    Waiting {
        receiver: oneshot::Receiver<ReadyResult>,
        left: Sender<WaiterLeft>,
        job: JobId,
        waiter: u64,
    },
    /// Resolved after waiting; nothing to give up on drop.
    Resolved,
}

impl MediaReady {
    pub(crate) fn done(key: RequestKey, result: ReadyResult) -> Self {
        Self {
            key,
            state: State::Done(Some(result)),
        }
    }

    /// The key of the request awaited.
    pub fn key(&self) -> RequestKey {
        self.key
    }
}

// Nothing in it relies on being pinned (the receiver is `Unpin`; the rest is moved out, never
// borrowed across polls); `Handle` alone is not `Unpin`.
impl Unpin for MediaReady {}

impl Future for MediaReady {
    type Output = Result<MediaHandle, AssetError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.state {
            State::Done(result) => Poll::Ready(result.take().unwrap_or_else(|| {
                Err(AssetError::new(
                    AssetErrorKind::Cancelled,
                    "this request was already awaited",
                ))
            })),
            State::Waiting { receiver, .. } => {
                let result = match Pin::new(receiver).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(result)) => result,
                    Poll::Ready(Err(_)) => Err(AssetError::new(
                        AssetErrorKind::Shutdown,
                        "the asset provider stopped before the request ended",
                    )),
                };
                this.state = State::Resolved;
                Poll::Ready(result)
            }
            State::Resolved => Poll::Ready(Err(AssetError::new(
                AssetErrorKind::Cancelled,
                "this request was already awaited",
            ))),
        }
    }
}

impl Drop for MediaReady {
    fn drop(&mut self) {
        if let State::Waiting {
            left, job, waiter, ..
        } = &self.state
        {
            // The provider may be gone already (app exit): nothing left to release then.
            let _ = left.send(WaiterLeft {
                job: *job,
                waiter: *waiter,
            });
        }
    }
}
