//! [`PixSimLibrary`]: the backend's pre-made assets, found by tags and scored like the local
//! manifest.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Map, Value};

use crate::backend::api::{Auth, PixSimFailure, Retry};
use crate::backend::connection::Connection;
use crate::backend::wire::{AssetResponse, AssetSearch, AssetSearchResponse, BackendId};
use crate::error::AssetError;
use crate::source::scoring::{MIN_CONTEXT_SCORE, MatchCriteria, best_match};
use crate::source::{AssetSource, SourceKind, SourceRequest, SourcedMedia};

/// Assets per search page.
const PAGE_SIZE: u32 = 50;

/// The backend's library of pre-made assets as a [`PreMade`](SourceKind::PreMade) source.
///
/// A request naming an [`asset_id`](crate::request::AssetRequest::asset_id) gets that asset.
/// Otherwise the request's context becomes tags (`loc:<id>`, `npc:<id>`, `scene:<id>`,
/// `choice:<id>`, its own tags), `POST /api/v1/assets/search` is paged through with
/// `next_cursor`, and the best match is scored exactly like [`PreMadeSource`]'s manifest
/// (at least [`MIN_CONTEXT_SCORE`]). Assets the backend generated are left to the generation
/// path, which knows their parameters. Made by [`PixSimSource::library`].
///
/// [`PreMadeSource`]: crate::source::PreMadeSource
/// [`PixSimSource::library`]: crate::backend::PixSimSource::library
#[derive(Clone)]
pub struct PixSimLibrary {
    connection: Arc<Connection>,
    name: String,
    /// How many search pages a request reads at most.
    pages: usize,
}

impl std::fmt::Debug for PixSimLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PixSimLibrary")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl PixSimLibrary {
    /// The library of the backend behind `connection`, named `name`, reading at most `pages`
    /// search pages per request.
    pub(super) fn new(connection: Arc<Connection>, name: String, pages: usize) -> Self {
        Self {
            connection,
            name,
            pages,
        }
    }

    /// Reads search pages until the last one or the configured page limit.
    async fn search(
        &self,
        tags: Vec<String>,
        media_type: &str,
    ) -> Result<Vec<AssetResponse>, AssetError> {
        let mut filters = Map::new();
        filters.insert(
            "media_type".into(),
            Value::Array(vec![Value::String(media_type.to_owned())]),
        );
        let mut search = AssetSearch {
            tag: tags,
            filters,
            q: None,
            limit: Some(PAGE_SIZE),
            cursor: None,
        };
        let mut found = Vec::new();
        for _ in 0..self.pages {
            let page: AssetSearchResponse = self
                .connection
                .api()
                .json(
                    Method::POST,
                    "api/v1/assets/search",
                    Some(&search),
                    Auth::Bearer,
                    Retry::Transient,
                )
                .await?;
            found.extend(page.assets);
            match page.next_cursor {
                // A cursor that does not move would page forever.
                Some(cursor) if !cursor.is_empty() && Some(&cursor) != search.cursor.as_ref() => {
                    search.cursor = Some(cursor);
                }
                _ => break,
            }
        }
        Ok(found)
    }

    async fn named(&self, id: &str) -> Result<Option<(BackendId, AssetResponse)>, AssetError> {
        let id = BackendId(id.to_owned());
        match self.connection.asset(&id).await {
            Ok(asset) => Ok(Some((id, asset))),
            // Not the backend's (or not this account's): another source may know the id.
            Err(error) if error.is_not_found() || error.is_not_yours() => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}

#[async_trait]
impl AssetSource for PixSimLibrary {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::PreMade
    }

    fn uses_network(&self) -> bool {
        true
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        let kind = request.kind();
        let chosen = if let Some(id) = &request.request.asset_id {
            self.named(id).await?
        } else {
            let criteria = MatchCriteria::from_request(&request.request);
            let tags: Vec<String> = criteria
                .location
                .iter()
                .chain(&criteria.hero)
                .chain(&criteria.enemies)
                .chain(&criteria.others)
                .chain(&criteria.required_tags)
                .chain(&criteria.wanted_role)
                .cloned()
                .collect();
            if tags.is_empty() {
                return Ok(None);
            }
            let assets = self.search(tags, kind.as_str()).await?;
            let candidates: Vec<(&AssetResponse, Vec<String>)> = assets
                .iter()
                .filter(|asset| asset.id.is_some() && asset.source_generation_id.is_none())
                .filter(|asset| {
                    asset
                        .media_type
                        .as_deref()
                        .is_none_or(|t| t == kind.as_str())
                })
                .map(|asset| (asset, asset.tag_slugs()))
                .collect();
            best_match(
                candidates
                    .iter()
                    .map(|(asset, tags)| (*asset, tags.as_slice())),
                &criteria,
            )
            .filter(|(_, score)| *score >= MIN_CONTEXT_SCORE)
            .and_then(|(asset, _)| Some((asset.id.clone()?, asset.clone())))
        };
        let Some((id, asset)) = chosen else {
            return Ok(None);
        };
        request.progress.report(0.5);
        let media = self.connection.download(&id, &asset, kind).await?;
        Ok(Some(media.with_backend_ids(None, Some(id.0))))
    }
}
