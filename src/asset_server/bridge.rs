//! Loaders run on Bevy's task pools, the provider lives on the frame: loaders send their
//! requests here, and one system hands them to the provider, so they share its jobs, dedup,
//! memory and disk tiers with every other request.

use bevy::prelude::*;
use crossbeam_channel::{Receiver, Sender};
use tokio::sync::oneshot;

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

use crate::error::{AssetError, AssetErrorKind};
use crate::provider::{AssetProvider, MediaHandle, MediaReady};
use crate::request::AssetRequest;

/// What a loader asks of the frame.
pub(crate) enum Order {
    /// Request this media; answer with the request's future.
    Request {
        request: Box<AssetRequest>,
        reply: oneshot::Sender<MediaReady>,
    },
    /// The job ended with this handle: answer with a copy of the media behind it, which the
    /// loader hands to the asset server as its own asset.
    Copy {
        handle: MediaHandle,
        reply: oneshot::Sender<Result<CopiedMedia, AssetError>>,
    },
}

/// A copy of the media behind a provider's handle.
pub(crate) enum CopiedMedia {
    Image(Box<Image>),
    #[cfg(feature = "audio")]
    Audio(AudioSource),
}

/// The loaders' end of the bridge.
#[derive(Clone)]
pub(crate) struct Orders(Sender<Order>);

impl Orders {
    /// Requests `request` through the provider and waits for its media.
    pub(crate) async fn media(&self, request: AssetRequest) -> Result<CopiedMedia, AssetError> {
        let (reply, ready) = oneshot::channel();
        self.send(Order::Request {
            request: Box::new(request),
            reply,
        })?;
        let ready = ready.await.map_err(|_| stopped())?;
        // Dropped unresolved (the load was given up), this future releases its hold on the job.
        let handle = ready.await?;
        let (reply, copied) = oneshot::channel();
        self.send(Order::Copy { handle, reply })?;
        copied.await.map_err(|_| stopped())?
    }

    fn send(&self, order: Order) -> Result<(), AssetError> {
        self.0.send(order).map_err(|_| stopped())
    }
}

fn stopped() -> AssetError {
    AssetError::new(
        AssetErrorKind::Shutdown,
        "the asset provider is not running (is AssetProviderPlugin added?)",
    )
}

/// The frame's end of the bridge.
#[derive(Resource)]
pub(crate) struct OrderQueue(Receiver<Order>);

/// A new bridge: the loaders' end and the frame's.
pub(crate) fn bridge() -> (Orders, OrderQueue) {
    let (sender, receiver) = crossbeam_channel::unbounded();
    (Orders(sender), OrderQueue(receiver))
}

/// Hands this frame's orders to the provider and copies finished media for the loaders. Its
/// work grows with the orders that arrived, not with the loads waiting.
pub(crate) fn serve_orders(
    queue: Res<OrderQueue>,
    mut provider: ResMut<AssetProvider>,
    images: Res<Assets<Image>>,
    #[cfg(feature = "audio")] sounds: Option<Res<Assets<AudioSource>>>,
) {
    for order in queue.0.try_iter() {
        match order {
            Order::Request { request, reply } => {
                // Err: the load was given up meanwhile; dropping the future releases the job.
                let _ = reply.send(provider.request_ready(*request));
            }
            Order::Copy { handle, reply } => {
                let copied = match &handle {
                    MediaHandle::Image(image) => images
                        .get(image)
                        .map(|image| CopiedMedia::Image(Box::new(image.clone()))),
                    #[cfg(feature = "audio")]
                    MediaHandle::Audio(sound) => sounds
                        .as_ref()
                        .and_then(|sounds| sounds.get(sound))
                        .cloned()
                        .map(CopiedMedia::Audio),
                };
                let _ = reply.send(copied.ok_or_else(|| {
                    AssetError::new(
                        AssetErrorKind::NotFound,
                        "the media was ready but is no longer behind its handle",
                    )
                }));
            }
        }
    }
}

/// Whether any order waits: the system runs only then.
pub(crate) fn has_orders(queue: Res<OrderQueue>) -> bool {
    !queue.0.is_empty()
}
