//! Where media goes: handles reserved for new jobs, the placeholders to put behind them, and the
//! images whose real media arrived (for sprites to refresh).

use bevy::asset::AssetHandleProvider;
use bevy::prelude::*;

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

use crate::provider::placeholder::Placeholders;
use crate::provider::task::MediaHandle;
use crate::request::MediaKind;

/// The handle providers of the media collections, and what happened to their handles since the
/// frame last looked.
pub(crate) struct MediaSlots {
    image_handles: AssetHandleProvider,
    #[cfg(feature = "audio")]
    audio_handles: AssetHandleProvider,
    placeholders: Placeholders,
    /// Handles reserved since the placeholders were last put behind them.
    new: Vec<MediaHandle>,
    /// Images whose real media or fallback arrived since sprites were last refreshed.
    swapped: Vec<AssetId<Image>>,
}

impl MediaSlots {
    pub fn new(
        image_handles: AssetHandleProvider,
        #[cfg(feature = "audio")] audio_handles: AssetHandleProvider,
        placeholders: Placeholders,
    ) -> Self {
        Self {
            image_handles,
            #[cfg(feature = "audio")]
            audio_handles,
            placeholders,
            new: Vec::new(),
            swapped: Vec::new(),
        }
    }

    /// A new handle for media of `kind`; its placeholder goes behind it at the next step.
    pub fn reserve(&mut self, kind: MediaKind) -> MediaHandle {
        let handle = match kind {
            #[cfg(feature = "audio")]
            MediaKind::Audio => {
                MediaHandle::Audio(self.audio_handles.reserve_handle().typed::<AudioSource>())
            }
            _ => MediaHandle::Image(self.image_handles.reserve_handle().typed::<Image>()),
        };
        self.new.push(handle.clone());
        handle
    }

    pub fn placeholders(&self) -> &Placeholders {
        &self.placeholders
    }

    pub fn has_new(&self) -> bool {
        !self.new.is_empty()
    }

    /// Handles reserved since the last call.
    pub fn take_new(&mut self) -> Vec<MediaHandle> {
        std::mem::take(&mut self.new)
    }

    /// Notes that real media (or a fallback) arrived behind `handle`.
    pub fn swapped(&mut self, handle: &MediaHandle) {
        if let Some(image) = handle.image() {
            self.swapped.push(image.id());
        }
    }

    pub fn has_swapped(&self) -> bool {
        !self.swapped.is_empty()
    }

    /// Images whose real media arrived since the last call.
    pub fn take_swapped(&mut self) -> Vec<AssetId<Image>> {
        std::mem::take(&mut self.swapped)
    }
}
