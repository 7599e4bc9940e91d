//! [`AssetProviderSystems`]: the plugin's system sets, for ordering your own systems against
//! them. They live at the crate root so every part of the plugin can name them without reaching
//! up to the plugin itself.

use bevy::prelude::*;

/// The plugin's systems, for ordering your own against them.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AssetProviderSystems {
    /// `PreUpdate`: results from the runtime are applied; media is swapped in, tasks updated,
    /// ready and failed messages sent. Read them in `Update`.
    Receive,
    /// `Update`: request messages (and scene messages) become requests.
    Request,
    /// `Update`, after `Request`: the likely next choices are prefetched.
    Predict,
    /// `PostUpdate`, before asset events: placeholders go behind this frame's new handles and
    /// requested messages are sent.
    Flush,
}
