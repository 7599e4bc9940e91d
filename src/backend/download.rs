//! Downloading an asset's file and checking it: type, size, SHA-256. The token goes only to the
//! backend's own origin; a CDN or the provider's host never sees it.

use reqwest::Method;

use crate::backend::api::{Auth, PixSimFailure, Retry};
use crate::backend::client::Inner;
use crate::backend::generations::DownloadError;
use crate::backend::wire::{AssetResponse, BackendId};
use crate::error::AssetError;
use crate::request::MediaKind;
use crate::source::SourcedMedia;

impl Inner {
    /// Downloads `asset`'s file and checks it against what the asset says.
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
        let answer = self
            .api
            .send(
                &what,
                Method::GET,
                url,
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
        let bytes = answer.bytes;
        if let Some(size) = asset.file_size_bytes
            && size != bytes.len() as u64
        {
            return Err(failed(AssetError::decode(format!(
                "{what}: got {} bytes, the asset says {size} (truncated or corrupted)",
                bytes.len()
            ))));
        }
        if let Some(expected) = &asset.sha256 {
            let actual = crate::files::sha256_hex(&bytes);
            if !actual.eq_ignore_ascii_case(expected.trim()) {
                return Err(failed(AssetError::decode(format!(
                    "{what}: integrity check failed, SHA-256 is {actual} but the asset says \
                     {expected}"
                ))));
            }
        }
        Ok(SourcedMedia::new(
            bytes,
            mime,
            format!("{}: asset {asset_id}", self.name),
        ))
    }
}
