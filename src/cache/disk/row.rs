//! The rows stored in the index: one per cached entry and one per pending job, as JSON.

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::request::{CachingStrategy, MediaKind};

/// One cached entry in the index. Times are milliseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct IndexRow {
    /// Unique per put: tells a row apart from a later one under the same key.
    pub id: u64,
    /// SHA-256 of the bytes, 64 lowercase hex digits; also the blob's file name.
    pub sha256: String,
    /// BLAKE3 of the bytes, 64 lowercase hex digits: what a read checks, several times faster
    /// than SHA-256. Rows written before it had none and are checked by their SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    pub kind: MediaKind,
    pub mime: String,
    pub size: u64,
    pub strategy: CachingStrategy,
    pub scope: Option<String>,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub last_used_ms: u64,
    pub source: String,
    pub generation_id: Option<String>,
    pub asset_id: Option<String>,
}

impl IndexRow {
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing plain strings and numbers cannot fail; an empty row would read back as
        // corrupt and be evicted, never served.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The row in `bytes`, or `None` if it is malformed (including a blob name that is not a
    /// SHA-256, which must never become a path).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let row: Self = serde_json::from_slice(bytes).ok()?;
        is_sha256_hex(&row.sha256).then_some(row)
    }
}

/// One submitted generation job not yet finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct JournalRow {
    pub generation_id: String,
    pub submitted_at_ms: u64,
    /// What the caller needs to follow the job again (the plugin keeps the request as JSON).
    #[serde(default)]
    pub details: Option<String>,
}

impl JournalRow {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// Whether `name` is 64 lowercase hex digits.
pub(super) fn is_sha256_hex(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `time` in milliseconds since the Unix epoch; times before it count as the epoch.
pub(super) fn to_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The time `ms` milliseconds after the Unix epoch.
pub(super) fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH)
}

/// `ms` plus `duration`, saturating.
pub(super) fn add_ms(ms: u64, duration: Duration) -> u64 {
    ms.saturating_add(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}
