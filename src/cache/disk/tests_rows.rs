//! Hostile rows in the disk index: arbitrary bytes and valid rows with a field replaced by
//! anything. Nothing panics or fails, no row makes the cache allocate more than
//! `ALLOCATION_BOUND` at once, and the good entry beside them is still served.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

use super::tests::TempDir;
use super::{DiskCache, DiskCacheConfig, NewEntry};
use crate::request::{CachingStrategy, MediaKind, RequestKey};

#[path = "../../../tests/support/largest_allocation.rs"]
mod largest_allocation;
#[path = "../../../tests/support/strategies.rs"]
mod strategies;
use largest_allocation::assert_allocations_bounded;
use strategies::{config, json_value, replace_one};

const ENTRIES: redb::TableDefinition<&[u8; 32], &[u8]> = redb::TableDefinition::new("entries");
const JOURNAL: redb::TableDefinition<&[u8; 32], &[u8]> = redb::TableDefinition::new("journal");

/// A row as the cache writes it, for the blob `sha256`.
fn index_row(sha256: &str) -> Value {
    json!({
        "id": 3, "sha256": sha256, "kind": "image", "mime": "image/png", "size": 4,
        "strategy": "once", "scope": null, "created_ms": 1_700_000_000_000u64,
        "expires_ms": 1_900_000_000_000u64, "last_used_ms": 1_700_000_000_000u64,
        "source": "fake", "generation_id": "g-1", "asset_id": null
    })
}

/// The bytes of the blob hostile rows point at, beside the good entry's own.
const BAIT: &[u8] = b"bait";

/// Opens a cache whose index holds the hostile `rows` (under keys 1, 2, ...) and `journal`
/// rows beside one good entry, then reads everything back. Nothing may panic or fail, and the
/// good entry is still served.
fn check_rows(rows: &[Vec<u8>], journal: &[Vec<u8>]) {
    let dir = TempDir::new();
    let root = dir.path().join("cache");
    let good = RequestKey([0; 32]);
    {
        let cache = DiskCache::open(DiskCacheConfig::new(&root)).unwrap();
        for (key, bytes) in [(good, b"blob".as_slice()), (RequestKey([0xEE; 32]), BAIT)] {
            let entry = NewEntry::new(
                bytes.to_vec(),
                MediaKind::Image,
                "image/png",
                CachingStrategy::Once,
                "fake",
            );
            cache.put(key, entry).unwrap();
        }
    }
    {
        let db = redb::Database::create(root.join("index.redb")).unwrap();
        let mut txn = db.begin_write().unwrap();
        txn.set_durability(redb::Durability::None).unwrap();
        {
            let mut entries = txn.open_table(ENTRIES).unwrap();
            for (i, row) in rows.iter().enumerate() {
                entries.insert(&[i as u8 + 1; 32], row.as_slice()).unwrap();
            }
            let mut pending = txn.open_table(JOURNAL).unwrap();
            for (i, row) in journal.iter().enumerate() {
                pending.insert(&[i as u8 + 1; 32], row.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let cache = DiskCache::open(DiskCacheConfig::new(&root)).unwrap();
    for i in 0..=rows.len() {
        cache.get(RequestKey([i as u8; 32]), None).unwrap();
    }
    cache.journal_pending().unwrap();
    cache.keys();
    cache.stats();
    assert!(
        cache.get(good, None).unwrap().is_some(),
        "the good entry survives"
    );
    assert_allocations_bounded();
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn index_rows_arbitrary_bytes(
        rows in vec(vec(any::<u8>(), 0..128), 1..4),
        journal in vec(vec(any::<u8>(), 0..128), 0..3),
    ) {
        check_rows(&rows, &journal);
    }

    #[test]
    fn index_rows_with_a_field_replaced(which in any::<Index>(), with in json_value()) {
        // A real blob, so a row that still parses points at real bytes.
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(BAIT));
        let row = replace_one(&index_row(&sha), which, with.clone());
        let journal = replace_one(
            &json!({"generation_id": "g-1", "submitted_at_ms": 5, "details": "{}"}),
            which,
            with,
        );
        check_rows(&[row], &[journal]);
    }
}
