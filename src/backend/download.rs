//! Downloading an asset's file and checking it: type, size, SHA-256. The token goes only to the
//! backend's own origin; a CDN or the provider's host never sees it.

use bevy::log::debug;
use reqwest::Method;

use crate::backend::api::{Auth, PixSimFailure, Retry};
use crate::backend::client::Inner;
use crate::backend::generations::DownloadError;
use crate::backend::wire::{AssetResponse, BackendId};
use crate::error::AssetError;
use crate::request::MediaKind;
use crate::source::SourcedMedia;

/// How often a file whose bytes do not match its asset's size or SHA-256 is downloaded
/// before the request fails.
const DOWNLOAD_TRIES: u32 = 2;

impl Inner {
    /// Downloads `asset`'s file and checks it against what the asset says. A file whose size or
    /// SHA-256 does not match is thrown away and downloaded once more; a second mismatch fails
    /// with the mismatch named. Nothing here ever creates a generation again.
    pub(super) async fn download(
        &self,
        asset_id: &BackendId,
        asset: &AssetResponse,
        kind: MediaKind,
    ) -> Result<SourcedMedia, DownloadError> {
        let failed = DownloadError::Failed;
        let location = asset
            .file_url
            .as_deref()
            .or(asset.remote_url.as_deref())
            .ok_or_else(|| {
                failed(AssetError::invalid_data(format!(
                    "asset {asset_id} has no file_url to download"
                )))
            })?;
        let url = self.api.url(location).map_err(failed)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(failed(AssetError::invalid_data(format!(
                "asset {asset_id}: cannot download a {} URL (not http or https)",
                url.scheme()
            ))));
        }
        let max = self.config().max_download_bytes;
        if let Some(size) = asset.file_size_bytes.filter(|size| *size > max) {
            return Err(failed(AssetError::invalid_data(format!(
                "asset {asset_id} is {size} bytes, over the {max}-byte download limit"
            ))));
        }
        let auth = if self.api.same_origin(&url) {
            Auth::Bearer
        } else {
            Auth::None
        };
        let what = format!("download of asset {asset_id}");
        let _permit = self.downloads.acquire().await.map_err(failed)?;
        let mut tries = 0;
        let (bytes, mime) = loop {
            tries += 1;
            let answer = self
                .api
                .send(
                    &what,
                    Method::GET,
                    url.clone(),
                    None,
                    auth,
                    Retry::Transient,
                    max,
                    Ok,
                )
                .await
                .map_err(|error| {
                    if error.is_not_yours() {
                        DownloadError::NotYours(format!(
                            "{what} refused: the file belongs to another account"
                        ))
                    } else {
                        failed(error.into())
                    }
                })?;

            let mime = asset
                .mime_type
                .clone()
                .or(answer.content_type.clone())
                .map(|mime| mime.split(';').next().unwrap_or("").trim().to_owned())
                .unwrap_or_default();
            if !kind.accepts_mime(&mime) {
                return Err(failed(AssetError::decode(format!(
                    "asset {asset_id} is {:?}, not {} media",
                    mime,
                    kind.as_str()
                ))));
            }
            match integrity(asset, &answer.bytes) {
                Ok(()) => break (answer.bytes, mime),
                // Damaged on the way: the generation is paid for and its file may be whole on
                // the server, so the bad bytes go and the file is fetched once more (as Unity's
                // Addressables do on a CRC mismatch). The generation is never made again.
                Err(why) if tries < DOWNLOAD_TRIES => {
                    debug!("{}: {what}: {why}; downloading it again", self.name);
                    drop(answer);
                }
                Err(why) => {
                    return Err(failed(AssetError::decode(format!(
                        "{what}: {why} (downloaded {tries} times)"
                    ))));
                }
            }
        };
        Ok(SourcedMedia::new(
            bytes,
            mime,
            format!("{}: asset {asset_id}", self.name),
        ))
    }
}

/// Whether `bytes` are the file `asset` describes: its size and SHA-256, where it gives them.
fn integrity(asset: &AssetResponse, bytes: &[u8]) -> Result<(), String> {
    if let Some(size) = asset.file_size_bytes
        && size != bytes.len() as u64
    {
        return Err(format!(
            "got {} bytes, the asset says {size} (truncated or corrupted)",
            bytes.len()
        ));
    }
    if let Some(expected) = &asset.sha256 {
        let actual = crate::files::sha256_hex(bytes);
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(format!(
                "integrity check failed, SHA-256 is {actual} but the asset says {expected}"
            ));
        }
    }
    Ok(())
}
