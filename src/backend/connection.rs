//! [`Connection`]: what every part of the client shares. The source's name, the API (base URL,
//! token, login) and the downloads of asset files, checked for type, size and SHA-256. The token
//! goes only to the backend's own origin; a CDN or the provider's host never sees it.

use bevy::log::debug;
use reqwest::{Method, Url};

use crate::backend::api::{Api, ApiError, Auth, PixSimFailure, Retry};
use crate::backend::wire::{AssetResponse, BackendId, GenerationResponse};
use crate::error::AssetError;
use crate::net::ConcurrencyLimit;
use crate::request::MediaKind;
use crate::source::SourcedMedia;

/// How often a file whose bytes do not match its asset's size or SHA-256 is downloaded
/// before the request fails.
const DOWNLOAD_TRIES: u32 = 2;

/// The client's way to the backend: its name in logs and origins, the API, and the limit on
/// downloads running at once and on their size.
pub(super) struct Connection {
    name: String,
    api: Api,
    downloads: ConcurrencyLimit,
    max_download_bytes: u64,
}

/// Why a download did not deliver.
pub(super) enum DownloadError {
    /// The server refused the file as another account's.
    NotYours(String),
    /// Anything else.
    Failed(AssetError),
}

impl From<DownloadError> for AssetError {
    fn from(error: DownloadError) -> Self {
        match error {
            DownloadError::NotYours(why) => AssetError::generation(why),
            DownloadError::Failed(error) => error,
        }
    }
}

impl Connection {
    /// The connection of the source `name` through `api`, with at most `downloads` at once of
    /// at most `max_download_bytes` each.
    pub(super) fn new(name: String, api: Api, downloads: usize, max_download_bytes: u64) -> Self {
        Self {
            name,
            api,
            downloads: ConcurrencyLimit::new(downloads),
            max_download_bytes,
        }
    }

    /// The source's identity, in logs, origins and the disk tier's records.
    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// The API every call goes through.
    pub(super) fn api(&self) -> &Api {
        &self.api
    }

    /// The asset `id`'s record (`GET /api/v1/assets/{id}`).
    pub(super) async fn asset(&self, id: &BackendId) -> Result<AssetResponse, ApiError> {
        self.api
            .json::<_, ()>(
                Method::GET,
                &format!("api/v1/assets/{id}"),
                None,
                Auth::Bearer,
                Retry::Transient,
            )
            .await
    }

    /// The generation `id` as the backend has it now (`GET /api/v1/generations/{id}`).
    pub(super) async fn generation(&self, id: &BackendId) -> Result<GenerationResponse, ApiError> {
        self.api
            .json::<_, ()>(
                Method::GET,
                &format!("api/v1/generations/{id}"),
                None,
                Auth::Bearer,
                Retry::Transient,
            )
            .await
    }

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
        let url = self.file_url(asset_id, asset).map_err(failed)?;
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
            let (bytes, content_type) = self.fetch(&what, &url, auth).await?;
            let mime = asset
                .mime_type
                .clone()
                .or(content_type)
                .map(|mime| mime.split(';').next().unwrap_or("").trim().to_owned())
                .unwrap_or_default();
            if !kind.accepts_mime(&mime) {
                return Err(failed(AssetError::decode(format!(
                    "asset {asset_id} is {:?}, not {} media",
                    mime,
                    kind.as_str()
                ))));
            }
            match integrity(asset, &bytes) {
                Ok(()) => break (bytes, mime),
                // Damaged on the way: the generation is paid for and its file may be whole on
                // the server, so the bad bytes go and the file is fetched once more (as Unity's
                // Addressables do on a CRC mismatch). The generation is never made again.
                Err(why) if tries < DOWNLOAD_TRIES => {
                    debug!("{}: {what}: {why}; downloading it again", self.name);
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

    /// Where `asset`'s file is: an http(s) URL, for a file no larger than the download limit
    /// as far as the asset says.
    fn file_url(&self, asset_id: &BackendId, asset: &AssetResponse) -> Result<Url, AssetError> {
        let location = asset
            .file_url
            .as_deref()
            .or(asset.remote_url.as_deref())
            .ok_or_else(|| {
                AssetError::invalid_data(format!("asset {asset_id} has no file_url to download"))
            })?;
        let url = self.api.url(location)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AssetError::invalid_data(format!(
                "asset {asset_id}: cannot download a {} URL (not http or https)",
                url.scheme()
            )));
        }
        let max = self.max_download_bytes;
        if let Some(size) = asset.file_size_bytes.filter(|size| *size > max) {
            return Err(AssetError::invalid_data(format!(
                "asset {asset_id} is {size} bytes, over the {max}-byte download limit"
            )));
        }
        Ok(url)
    }

    /// One download of `url`: its bytes and `Content-Type`.
    async fn fetch(
        &self,
        what: &str,
        url: &Url,
        auth: Auth,
    ) -> Result<(Vec<u8>, Option<String>), DownloadError> {
        let answer = self
            .api
            .send(
                what,
                Method::GET,
                url.clone(),
                None,
                auth,
                Retry::Transient,
                self.max_download_bytes,
                Ok,
            )
            .await
            .map_err(|error| {
                if error.is_not_yours() {
                    DownloadError::NotYours(format!(
                        "{what} refused: the file belongs to another account"
                    ))
                } else {
                    DownloadError::Failed(error.into())
                }
            })?;
        Ok((answer.bytes, answer.content_type))
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
