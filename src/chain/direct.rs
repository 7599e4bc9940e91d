//! The chain driven directly, one request at a time, with no app and no frame: for tools (the
//! bake) that want the encoded media as well as the decoded check.

use std::time::Duration;

use tokio::sync::OnceCell;

use super::SourceChain;
use super::ask::{GenerationGate, GenerationSlot};
use super::resolve::Resolved;
use crate::error::AssetError;
use crate::request::{AssetRequest, PlaySession, RequestKey};
use crate::source::{LaneFlag, ProgressReporter, SourceRequest};

/// One run of requests through a chain (a bake's): the jobs an interrupted run journalled are
/// followed before its first request.
pub(crate) struct DirectRun<'a> {
    chain: &'a SourceChain,
    timeout: Duration,
    recovered: OnceCell<()>,
}

/// A gate that lets every generator through at once: for a caller that bounds its own
/// requests (the bake) and spends nothing the player set a cap on.
struct Open;

#[async_trait::async_trait]
impl GenerationGate for Open {
    async fn enter(&self, _: &SourceRequest) -> Result<GenerationSlot<'_>, AssetError> {
        Ok(Box::new(()))
    }
}

impl SourceChain {
    /// A run of requests, each given up after `timeout`.
    pub fn direct(&self, timeout: Duration) -> DirectRun<'_> {
        DirectRun {
            chain: self,
            timeout,
            recovered: OnceCell::new(),
        }
    }
}

impl DirectRun<'_> {
    /// Resolves `request` (of key `key`, asked in `session`) as the plugin would, through
    /// [`SourceChain::resolve`] with every generator let through (the caller bounds how many
    /// requests run at once); what it made is kept on disk.
    pub async fn resolve(
        &self,
        key: RequestKey,
        request: AssetRequest,
        session: PlaySession,
    ) -> Result<Resolved, AssetError> {
        let chain = self.chain;
        self.recovered.get_or_init(|| chain.recover()).await;
        let lane = LaneFlag::new(true);
        let request = chain
            .request(key, request, session, ProgressReporter::ignore(), lane)
            .await;
        let mut resolved = chain.resolve(&request, self.timeout, 0, &Open).await?;
        // A request that failed keeps its journalled job for the next run to follow.
        chain.finish(&request, resolved.take_store()).await;
        Ok(resolved)
    }
}
