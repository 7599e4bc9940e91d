//! How often players took each choice of a scene graph, kept across sessions for prediction.

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use super::DiskCache;
use crate::error::AssetError;

/// `"<graph>\n<edge>"` → how often players took that choice.
pub(super) const CHOICES: TableDefinition<&str, u64> = TableDefinition::new("choices");

impl DiskCache {
    /// Counts one more player taking choice `edge` of scene graph `graph`, so prediction
    /// learns across sessions.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the count cannot be written.
    pub fn record_choice(&self, graph: &str, edge: &str) -> Result<u64, AssetError> {
        let inner = &self.inner;
        let name = format!("{graph}\n{edge}");
        let txn = inner.db.begin_write().map_err(|e| inner.index_err(e))?;
        let count = {
            let mut table = txn.open_table(CHOICES).map_err(|e| inner.index_err(e))?;
            let count = table
                .get(name.as_str())
                .map_err(|e| inner.index_err(e))?
                .map_or(0, |count| count.value())
                + 1;
            table
                .insert(name.as_str(), count)
                .map_err(|e| inner.index_err(e))?;
            count
        };
        txn.commit().map_err(|e| inner.index_err(e))?;
        Ok(count)
    }

    /// Every recorded choice count: `(graph, edge, count)`.
    ///
    /// # Errors
    ///
    /// An [`Io`](crate::error::AssetErrorKind::Io) error when the counts cannot be read.
    pub fn choice_counts(&self) -> Result<Vec<(String, String, u64)>, AssetError> {
        let inner = &self.inner;
        let txn = inner.db.begin_read().map_err(|e| inner.index_err(e))?;
        let table = txn.open_table(CHOICES).map_err(|e| inner.index_err(e))?;
        let mut counts = Vec::new();
        for item in table.iter().map_err(|e| inner.index_err(e))? {
            let (name, count) = item.map_err(|e| inner.index_err(e))?;
            if let Some((graph, edge)) = name.value().split_once('\n') {
                counts.push((graph.to_owned(), edge.to_owned(), count.value()));
            }
        }
        Ok(counts)
    }
}
