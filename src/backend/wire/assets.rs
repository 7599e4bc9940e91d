//! Assets: one asset, its tags, and the search for them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ids::{BackendId, null_as_default};

/// A tag on an asset: `{"slug": "loc:park", "namespace": "loc", "name": "park"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRef {
    /// `namespace:name`.
    pub slug: String,
    /// The part before the colon.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The part after it.
    #[serde(default)]
    pub name: Option<String>,
}

impl TagRef {
    /// A tag from its slug.
    pub fn from_slug(slug: &str) -> Self {
        let (namespace, name) = match slug.split_once(':') {
            Some((namespace, name)) => (Some(namespace.to_owned()), Some(name.to_owned())),
            None => (None, Some(slug.to_owned())),
        };
        Self {
            slug: slug.to_owned(),
            namespace,
            name,
        }
    }
}

/// One asset (`GET /api/v1/assets/{id}`): the fields the plugin uses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetResponse {
    /// Its id.
    pub id: Option<BackendId>,
    /// `image`, `video`, `audio` or `3d_model`.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The file's MIME type.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// SHA-256 of the file, hex; downloads must match it.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The file's size.
    #[serde(default)]
    pub file_size_bytes: Option<u64>,
    /// Width in pixels.
    #[serde(default)]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default)]
    pub height: Option<u32>,
    /// Length in seconds.
    #[serde(default)]
    pub duration_sec: Option<f64>,
    /// Where to download it: relative to the backend (send the token) or absolute.
    #[serde(default)]
    pub file_url: Option<String>,
    /// The provider's own URL for it.
    #[serde(default)]
    pub remote_url: Option<String>,
    /// A small preview.
    #[serde(default)]
    pub thumbnail_url: Option<String>,
    /// Its tags.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<TagRef>,
    /// The generation that made it.
    #[serde(default)]
    pub source_generation_id: Option<BackendId>,
    /// The hash of the generation's parameters.
    #[serde(default)]
    pub reproducible_hash: Option<String>,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<String>,
}

impl AssetResponse {
    /// Its tag slugs.
    pub fn tag_slugs(&self) -> Vec<String> {
        self.tags.iter().map(|tag| tag.slug.clone()).collect()
    }
}

/// `POST /api/v1/assets/search`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetSearch {
    /// Tag slugs to look for.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tag: Vec<String>,
    /// Filters, such as `{"media_type": ["image"]}`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub filters: Map<String, Value>,
    /// Free text.
    #[serde(default)]
    pub q: Option<String>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The answer to [`AssetSearch`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetSearchResponse {
    /// This page.
    #[serde(default, deserialize_with = "null_as_default")]
    pub assets: Vec<AssetResponse>,
    /// How many match in all.
    #[serde(default)]
    pub total: Option<u64>,
    /// The page size.
    #[serde(default)]
    pub limit: Option<u64>,
    /// Where this page starts.
    #[serde(default)]
    pub offset: Option<u64>,
    /// Pass it back for the next page; `None` on the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
}
