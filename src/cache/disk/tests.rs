use super::read::row_matches;
use super::*;
use crate::request::MediaKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(super) const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A directory under the system temp dir, removed on drop.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "bap-disk-cache-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A clock the test moves by hand.
#[derive(Clone)]
pub(super) struct TestClock(Arc<AtomicU64>);

impl TestClock {
    pub(super) fn new() -> Self {
        Self(Arc::new(AtomicU64::new(1_700_000_000_000)))
    }

    pub(super) fn clock(&self) -> impl Fn() -> SystemTime + Send + Sync + 'static {
        let ms = self.0.clone();
        move || UNIX_EPOCH + Duration::from_millis(ms.load(Ordering::SeqCst))
    }

    pub(super) fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }

    pub(super) fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0.load(Ordering::SeqCst))
    }
}

pub(super) fn key(n: u8) -> RequestKey {
    RequestKey([n; 32])
}

pub(super) fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub(super) fn png(seed: u8, len: usize, strategy: CachingStrategy) -> NewEntry {
    NewEntry::new(
        bytes(seed, len),
        MediaKind::Image,
        "image/png",
        strategy,
        "generator",
    )
}

pub(super) fn config(dir: &TempDir, clock: &TestClock) -> DiskCacheConfig {
    DiskCacheConfig::new(dir.path().join("cache")).clock(clock.clock())
}

pub(super) fn blob_path(dir: &TempDir, data: &[u8]) -> PathBuf {
    let sha = sha256_hex(data);
    dir.path()
        .join("cache")
        .join("blobs")
        .join(&sha[..2])
        .join(&sha)
}

#[test]
fn disk_cache_is_send_sync_and_clone() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<DiskCache>();
}

#[test]
fn round_trip_keeps_bytes_and_provenance() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    let stored_at = clock.now();
    let data = bytes(1, 5000);
    let entry = NewEntry::new(
        data.clone(),
        MediaKind::Audio,
        "audio/wav",
        CachingStrategy::PerPlaythrough,
        "backend",
    )
    .scope(Some("pt:one".into()))
    .generation_id("gen-42")
    .asset_id("cue-7");
    cache.put(key(1), entry).unwrap();
    clock.advance(Duration::from_secs(5));

    let got = cache.get(key(1), Some("pt:one")).unwrap().expect("stored");
    assert_eq!(&got.bytes[..], &data[..]);
    assert_eq!(got.kind, MediaKind::Audio);
    assert_eq!(got.mime, "audio/wav");
    assert_eq!(got.size, 5000);
    assert_eq!(got.strategy, CachingStrategy::PerPlaythrough);
    assert_eq!(got.source, "backend");
    assert_eq!(got.generation_id.as_deref(), Some("gen-42"));
    assert_eq!(got.asset_id.as_deref(), Some("cue-7"));
    assert_eq!(got.created, stored_at);

    assert!(cache.get(key(2), None).unwrap().is_none());
    let stats = cache.stats();
    assert_eq!((stats.entries, stats.bytes), (1, 5000));
    assert_eq!((stats.hits, stats.misses), (1, 1));
    assert!(blob_path(&dir, &data).is_file());
}

#[test]
fn reopen_keeps_entries() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let data = bytes(2, 3000);
    {
        let cache = DiskCache::open(config(&dir, &clock)).unwrap();
        cache
            .put(
                key(1),
                png(2, 3000, CachingStrategy::Once).generation_id("g1"),
            )
            .unwrap();
    }
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    assert_eq!(cache.keys(), vec![key(1)]);
    assert_eq!(cache.stats().bytes, 3000);
    let got = cache.get(key(1), None).unwrap().expect("persisted");
    assert_eq!(&got.bytes[..], &data[..]);
    assert_eq!(got.generation_id.as_deref(), Some("g1"));
}

#[test]
fn entries_expire_after_their_strategy_ttl() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    cache
        .put(key(1), png(1, 100, CachingStrategy::Once))
        .unwrap();
    cache
        .put(
            key(2),
            png(2, 100, CachingStrategy::PerPlaythrough).scope(Some("pt:a".into())),
        )
        .unwrap();
    cache
        .put(
            key(3),
            png(3, 100, CachingStrategy::PerPlayer).scope(Some("player:p".into())),
        )
        .unwrap();
    let alive = |cache: &DiskCache| {
        [
            cache.get(key(1), None).unwrap().is_some(),
            cache.get(key(2), Some("pt:a")).unwrap().is_some(),
            cache.get(key(3), Some("player:p")).unwrap().is_some(),
        ]
    };

    clock.advance(DAY * 90 - Duration::from_millis(1));
    assert_eq!(alive(&cache), [true, true, true]);
    clock.advance(Duration::from_millis(1));
    assert_eq!(alive(&cache), [true, false, true]);
    clock.advance(DAY * 90 - Duration::from_millis(1));
    assert_eq!(alive(&cache), [true, false, true]);
    clock.advance(Duration::from_millis(1));
    assert_eq!(alive(&cache), [true, false, false]);
    clock.advance(DAY * 185 - Duration::from_millis(1));
    assert_eq!(alive(&cache), [true, false, false]);
    clock.advance(Duration::from_millis(1));
    assert_eq!(alive(&cache), [false, false, false]);

    let stats = cache.stats();
    assert_eq!((stats.entries, stats.bytes, stats.expired_swept), (0, 0, 3));
    assert!(!blob_path(&dir, &bytes(1, 100)).exists());
}

#[test]
fn sweep_expired_removes_only_expired_entries() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    cache
        .put(key(1), png(1, 100, CachingStrategy::Once))
        .unwrap();
    cache
        .put(key(2), png(2, 100, CachingStrategy::PerPlaythrough))
        .unwrap();
    cache
        .put(key(3), png(3, 100, CachingStrategy::PerPlayer))
        .unwrap();
    clock.advance(DAY * 100);
    assert_eq!(cache.sweep_expired().unwrap(), 1);
    assert_eq!(cache.keys(), vec![key(1), key(3)]);
    assert_eq!(cache.stats().expired_swept, 1);
    assert_eq!(cache.sweep_expired().unwrap(), 0);
}

#[test]
fn playthrough_scope_is_not_served_to_another_playthrough() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    cache
        .put(
            key(1),
            png(1, 100, CachingStrategy::PerPlaythrough).scope(Some("pt:A".into())),
        )
        .unwrap();
    assert!(cache.get(key(1), Some("pt:B")).unwrap().is_none());
    assert!(cache.get(key(1), None).unwrap().is_none());
    assert!(cache.get(key(1), Some("pt:A")).unwrap().is_some());
    // A refused scope is a miss, not an eviction.
    assert_eq!(cache.stats().entries, 1);
}

#[test]
fn player_scope_is_not_served_to_another_player() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    cache
        .put(
            key(1),
            png(1, 100, CachingStrategy::PerPlayer).scope(Some("player:alice".into())),
        )
        .unwrap();
    cache
        .put(key(2), png(2, 100, CachingStrategy::Once))
        .unwrap();
    assert!(cache.get(key(1), Some("player:bob")).unwrap().is_none());
    assert!(cache.get(key(1), Some("player:alice")).unwrap().is_some());
    // An unscoped entry is not served under a scope either: scopes compare exactly.
    assert!(cache.get(key(2), Some("player:alice")).unwrap().is_none());
    assert!(cache.get(key(2), None).unwrap().is_some());
}

#[test]
fn always_is_not_stored() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    cache
        .put(key(1), png(1, 100, CachingStrategy::Always))
        .unwrap();
    assert!(cache.get(key(1), None).unwrap().is_none());
    assert_eq!(cache.stats().entries, 0);
    assert!(!blob_path(&dir, &bytes(1, 100)).exists());
}

#[test]
fn corrupted_blob_is_evicted_and_a_new_put_works() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    let data = bytes(1, 4096);
    cache
        .put(key(1), png(1, 4096, CachingStrategy::Once))
        .unwrap();

    let path = blob_path(&dir, &data);
    let mut damaged = data.clone();
    damaged[100] ^= 0xff;
    std::fs::write(&path, &damaged).unwrap();

    assert!(cache.get(key(1), None).unwrap().is_none());
    assert!(cache.keys().is_empty());
    assert!(!path.exists());
    let stats = cache.stats();
    assert_eq!(
        (stats.corrupt_evicted, stats.entries, stats.bytes),
        (1, 0, 0)
    );

    cache
        .put(key(1), png(1, 4096, CachingStrategy::Once))
        .unwrap();
    let got = cache.get(key(1), None).unwrap().expect("stored again");
    assert_eq!(&got.bytes[..], &data[..]);
}

#[test]
fn corrupted_blob_is_caught_on_the_first_read_after_reopen() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let data = bytes(3, 2048);
    {
        let cache = DiskCache::open(config(&dir, &clock)).unwrap();
        cache
            .put(key(1), png(3, 2048, CachingStrategy::Once))
            .unwrap();
        assert!(cache.get(key(1), None).unwrap().is_some());
    }
    let mut damaged = data.clone();
    damaged[0] ^= 1;
    std::fs::write(blob_path(&dir, &data), &damaged).unwrap();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    assert!(cache.get(key(1), None).unwrap().is_none());
    assert_eq!(cache.stats().corrupt_evicted, 1);
}

#[test]
fn truncated_blob_is_evicted_even_after_it_was_verified() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    let data = bytes(4, 1000);
    cache
        .put(key(1), png(4, 1000, CachingStrategy::Once))
        .unwrap();
    assert!(cache.get(key(1), None).unwrap().is_some());
    std::fs::write(blob_path(&dir, &data), &data[..500]).unwrap();
    assert!(cache.get(key(1), None).unwrap().is_none());
    assert_eq!(cache.stats().corrupt_evicted, 1);
}

#[test]
fn verify_always_catches_damage_after_the_first_read() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock).verify_reads(VerifyReads::Always)).unwrap();
    let data = bytes(5, 1000);
    cache
        .put(key(1), png(5, 1000, CachingStrategy::Once))
        .unwrap();
    assert!(cache.get(key(1), None).unwrap().is_some());
    let mut damaged = data.clone();
    damaged[999] ^= 1;
    std::fs::write(blob_path(&dir, &data), &damaged).unwrap();
    assert!(cache.get(key(1), None).unwrap().is_none());
    assert_eq!(cache.stats().corrupt_evicted, 1);
}

#[test]
fn missing_blob_is_evicted() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    let data = bytes(6, 1000);
    cache
        .put(key(1), png(6, 1000, CachingStrategy::Once))
        .unwrap();
    std::fs::remove_file(blob_path(&dir, &data)).unwrap();
    assert!(cache.get(key(1), None).unwrap().is_none());
    assert!(cache.keys().is_empty());
    assert_eq!(cache.stats().corrupt_evicted, 1);
}

#[test]
fn missing_blob_found_at_open_drops_the_row() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let data = bytes(7, 1000);
    {
        let cache = DiskCache::open(config(&dir, &clock)).unwrap();
        cache
            .put(key(1), png(7, 1000, CachingStrategy::Once))
            .unwrap();
        cache
            .put(key(2), png(8, 1000, CachingStrategy::Once))
            .unwrap();
    }
    std::fs::remove_file(blob_path(&dir, &data)).unwrap();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    assert_eq!(cache.keys(), vec![key(2)]);
    assert!(cache.get(key(1), None).unwrap().is_none());
    assert!(cache.get(key(2), None).unwrap().is_some());
}

#[test]
fn size_cap_evicts_least_recently_used_first() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock).max_bytes(3000)).unwrap();
    for n in 1..=3 {
        cache
            .put(key(n), png(n, 1000, CachingStrategy::Once))
            .unwrap();
        clock.advance(Duration::from_secs(1));
    }
    // Key 1 is the oldest put but the most recently read.
    assert!(cache.get(key(1), None).unwrap().is_some());
    clock.advance(Duration::from_secs(1));
    cache
        .put(key(4), png(4, 1000, CachingStrategy::Once))
        .unwrap();
    assert_eq!(cache.keys(), vec![key(1), key(3), key(4)]);
    assert!(!blob_path(&dir, &bytes(2, 1000)).exists());

    clock.advance(Duration::from_secs(1));
    cache
        .put(key(5), png(5, 2000, CachingStrategy::Once))
        .unwrap();
    assert_eq!(cache.keys(), vec![key(4), key(5)]);
    let stats = cache.stats();
    assert_eq!((stats.evictions, stats.bytes), (3, 3000));
}

#[test]
fn last_use_order_survives_reopen() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    {
        let cache = DiskCache::open(config(&dir, &clock).max_bytes(2000)).unwrap();
        cache
            .put(key(1), png(1, 1000, CachingStrategy::Once))
            .unwrap();
        clock.advance(Duration::from_secs(1));
        cache
            .put(key(2), png(2, 1000, CachingStrategy::Once))
            .unwrap();
        clock.advance(Duration::from_secs(1));
        assert!(cache.get(key(1), None).unwrap().is_some());
    }
    let cache = DiskCache::open(config(&dir, &clock).max_bytes(2000)).unwrap();
    clock.advance(Duration::from_secs(1));
    cache
        .put(key(3), png(3, 1000, CachingStrategy::Once))
        .unwrap();
    assert_eq!(cache.keys(), vec![key(1), key(3)]);
}

#[test]
fn open_with_a_lower_cap_evicts_down_to_it() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    {
        let cache = DiskCache::open(config(&dir, &clock)).unwrap();
        for n in 1..=4 {
            cache
                .put(key(n), png(n, 1000, CachingStrategy::Once))
                .unwrap();
            clock.advance(Duration::from_secs(1));
        }
        assert!(cache.get(key(1), None).unwrap().is_some());
    }
    let cache = DiskCache::open(config(&dir, &clock).max_bytes(2500)).unwrap();
    assert_eq!(cache.keys(), vec![key(1), key(4)]);
    let stats = cache.stats();
    assert_eq!((stats.bytes, stats.evictions), (2000, 2));
}

#[test]
fn entry_larger_than_the_cap_is_not_stored() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock).max_bytes(1000)).unwrap();
    cache
        .put(key(1), png(1, 500, CachingStrategy::Once))
        .unwrap();
    cache
        .put(key(2), png(2, 1001, CachingStrategy::Once))
        .unwrap();
    assert_eq!(cache.keys(), vec![key(1)]);
    assert_eq!(cache.stats().evictions, 0);
}

#[test]
fn identical_bytes_share_one_blob() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    let data = bytes(9, 800);
    cache
        .put(key(1), png(9, 800, CachingStrategy::Once))
        .unwrap();
    cache
        .put(key(2), png(9, 800, CachingStrategy::Once))
        .unwrap();
    assert_eq!(cache.stats().bytes, 800);
    assert!(cache.remove(key(1)).unwrap());
    assert!(!cache.remove(key(1)).unwrap());
    assert!(blob_path(&dir, &data).is_file());
    assert!(cache.get(key(2), None).unwrap().is_some());
    assert!(cache.remove(key(2)).unwrap());
    assert!(!blob_path(&dir, &data).exists());
    assert_eq!(cache.stats().bytes, 0);
}

#[test]
fn replacing_an_entry_deletes_its_old_blob() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    cache
        .put(key(1), png(1, 800, CachingStrategy::Once))
        .unwrap();
    cache
        .put(key(1), png(2, 900, CachingStrategy::Once))
        .unwrap();
    assert!(!blob_path(&dir, &bytes(1, 800)).exists());
    let got = cache.get(key(1), None).unwrap().expect("replaced");
    assert_eq!(&got.bytes[..], &bytes(2, 900)[..]);
    assert_eq!(cache.stats().bytes, 900);
}

#[test]
fn clear_scope_purge_strategy_and_purge_source() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    let scoped = |n: u8, strategy, scope: &str, source: &str| {
        NewEntry::new(
            bytes(n, 100),
            MediaKind::Image,
            "image/png",
            strategy,
            source,
        )
        .scope(Some(scope.to_owned()))
    };
    cache
        .put(
            key(1),
            scoped(1, CachingStrategy::PerPlaythrough, "pt:A", "gen"),
        )
        .unwrap();
    cache
        .put(
            key(2),
            scoped(2, CachingStrategy::PerPlaythrough, "pt:A", "gen"),
        )
        .unwrap();
    cache
        .put(
            key(3),
            scoped(3, CachingStrategy::PerPlaythrough, "pt:B", "gen"),
        )
        .unwrap();
    cache
        .put(
            key(4),
            scoped(4, CachingStrategy::PerPlayer, "player:p", "gen"),
        )
        .unwrap();
    cache
        .put(
            key(5),
            NewEntry::new(
                bytes(5, 100),
                MediaKind::Image,
                "image/png",
                CachingStrategy::Once,
                "premade",
            ),
        )
        .unwrap();
    cache
        .put(
            key(6),
            NewEntry::new(
                bytes(6, 100),
                MediaKind::Image,
                "image/png",
                CachingStrategy::Once,
                "gen",
            ),
        )
        .unwrap();

    assert_eq!(cache.clear_scope("pt:A").unwrap(), 2);
    assert_eq!(cache.clear_scope("pt:A").unwrap(), 0);
    assert_eq!(cache.keys(), vec![key(3), key(4), key(5), key(6)]);
    assert_eq!(cache.purge_strategy(CachingStrategy::PerPlayer).unwrap(), 1);
    assert_eq!(cache.keys(), vec![key(3), key(5), key(6)]);
    assert_eq!(cache.purge_source("premade").unwrap(), 1);
    assert_eq!(cache.keys(), vec![key(3), key(6)]);
    assert!(!blob_path(&dir, &bytes(5, 100)).exists());
    assert_eq!(cache.stats().bytes, 200);
}

#[test]
fn rows_from_before_blake3_are_checked_by_their_sha256() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    let data = bytes(5, 1000);
    cache
        .put(key(1), png(5, 1000, CachingStrategy::Once))
        .unwrap();
    let written = IndexRow::from_bytes(&cache.inner.read_row(key(1)).unwrap().unwrap()).unwrap();
    assert!(written.blake3.is_some(), "a new row keeps its BLAKE3");
    let mut damaged = data.clone();
    damaged[7] ^= 1;
    assert!(row_matches(&written, &data));
    assert!(!row_matches(&written, &damaged));

    // A row as written before the index kept a BLAKE3: no such field.
    let legacy = IndexRow {
        blake3: None,
        ..written
    };
    let legacy_json = legacy.to_bytes();
    assert!(!String::from_utf8_lossy(&legacy_json).contains("blake3"));
    let legacy = IndexRow::from_bytes(&legacy_json).expect("an old row still reads");
    assert!(row_matches(&legacy, &data));
    assert!(!row_matches(&legacy, &damaged));
}
