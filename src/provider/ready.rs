//! [`MediaReady`]: a request awaited from async code. The future is a holder of the request's
//! job like an entity's task is; dropping it before it resolves is that holder leaving.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crossbeam_channel::Sender;
use tokio::sync::oneshot;

use crate::error::{AssetError, AssetErrorKind};
use crate::provider::{JobId, MediaHandle};
use crate::request::RequestKey;

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

    pub(crate) fn waiting(
        key: RequestKey,
        receiver: oneshot::Receiver<ReadyResult>,
        left: Sender<WaiterLeft>,
        job: JobId,
        waiter: u64,
    ) -> Self {
        Self {
            key,
            state: State::Waiting {
                receiver,
                left,
                job,
                waiter,
            },
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
