//! The disk tier in a build without the `disk` feature: a type with no values. The plugin never
//! makes one, so the runtime's `Option<Arc<DiskTier>>` is always `None` and results stay in
//! memory; the runtime and the provider read the same with and without the feature. None of
//! these methods can be called (there is no `self` to call them on).

use tokio::sync::watch;

pub(crate) use crate::cache::commands::{DiskCommand, ToStore};
use crate::error::AssetError;
use crate::request::RequestKey;
use crate::source::{JobJournal, JournalRecord, SourceRequest, SourcedMedia};

/// No disk tier: this build has no `disk` feature.
pub(crate) enum DiskTier {}

impl DiskTier {
    pub fn serves_retired_sources(&self) -> bool {
        match *self {}
    }

    pub fn resumed_jobs(&self) -> u64 {
        match *self {}
    }

    pub async fn journal(&self) -> JobJournal {
        match *self {}
    }

    pub async fn join_resumed(&self, _key: RequestKey) {
        match *self {}
    }

    pub async fn get_with<T: Send + 'static>(
        &self,
        _request: &SourceRequest,
        _made_by: impl Fn(&str) -> bool + Send + 'static,
        _with: impl FnOnce(&SourcedMedia) -> T + Send + 'static,
    ) -> Option<(SourcedMedia, T)> {
        match *self {}
    }

    pub async fn put(&self, _request: &SourceRequest, _store: ToStore) {
        match *self {}
    }

    pub async fn choice_counts(&self) -> Vec<(String, String, u64)> {
        match *self {}
    }

    pub async fn run(&self, _command: DiskCommand) {
        match *self {}
    }

    pub fn mark_recovered(&self) {
        match *self {}
    }

    pub async fn journalled_jobs(&self) -> Vec<(RequestKey, Option<JournalRecord>)> {
        match *self {}
    }

    pub async fn forget_job(&self, _key: RequestKey) {
        match *self {}
    }

    pub fn begin_resume(&self, _key: RequestKey) -> watch::Sender<bool> {
        match *self {}
    }

    pub fn end_resume(&self, _key: RequestKey, _done: watch::Sender<bool>) {
        match *self {}
    }

    pub async fn keep_resumed(
        &self,
        _request: &SourceRequest,
        _media: SourcedMedia,
        _source: String,
    ) -> Result<(), AssetError> {
        match *self {}
    }

    pub async fn finish_job(&self, _key: RequestKey, _generation_id: String) {
        match *self {}
    }
}
