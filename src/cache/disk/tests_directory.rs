//! The cache's directory and index: opening, refusing, cleaning, tagging; the journal and the
//! choice counts across reopenings; threads sharing one cache.

use super::config::{resolve, sanitize_component};
use super::tests::*;
use super::*;
use crate::error::AssetErrorKind;
use std::path::PathBuf;
use std::time::Duration;

#[test]
fn directory_under_a_regular_file_is_an_io_error_naming_the_path() {
    let dir = TempDir::new();
    let file = dir.path().join("a_file");
    std::fs::write(&file, b"not a directory").unwrap();
    let target = file.join("cache");
    let err = DiskCache::open(DiskCacheConfig::new(&target)).unwrap_err();
    assert_eq!(err.kind(), AssetErrorKind::Io);
    assert!(
        err.message().contains(&target.display().to_string()),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn read_only_directory_is_an_io_error_naming_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root (and other privileged users) write anyway: nothing to test there.
    let privileged = std::fs::write(locked.join("probe"), b"x").is_ok();
    if !privileged {
        let target = locked.join("cache");
        let err = DiskCache::open(DiskCacheConfig::new(&target)).unwrap_err();
        assert_eq!(err.kind(), AssetErrorKind::Io);
        assert!(
            err.message().contains(&target.display().to_string()),
            "{err}"
        );
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn second_open_of_a_directory_is_an_io_error() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let _cache = DiskCache::open(config(&dir, &clock)).unwrap();
    let err = DiskCache::open(config(&dir, &clock)).unwrap_err();
    assert_eq!(err.kind(), AssetErrorKind::Io);
    assert!(err.message().contains("index.redb"), "{err}");
}

#[test]
fn open_cleans_temporary_files_and_orphan_blobs() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let data = bytes(1, 100);
    {
        let cache = DiskCache::open(config(&dir, &clock)).unwrap();
        cache
            .put(key(1), png(1, 100, CachingStrategy::Once))
            .unwrap();
    }
    let root = dir.path().join("cache");
    let stale = root.join("tmp").join("123-4.tmp");
    std::fs::write(&stale, b"half a blob").unwrap();
    let orphan_sha = sha256_hex(b"orphan");
    let orphan = root.join("blobs").join(&orphan_sha[..2]).join(&orphan_sha);
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"orphan").unwrap();

    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    assert!(!stale.exists());
    assert!(!orphan.exists());
    assert!(blob_path(&dir, &data).is_file());
    assert!(cache.get(key(1), None).unwrap().is_some());
}

#[test]
fn unreadable_index_starts_over_empty() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let data = bytes(1, 100);
    {
        let cache = DiskCache::open(config(&dir, &clock)).unwrap();
        cache
            .put(key(1), png(1, 100, CachingStrategy::Once))
            .unwrap();
    }
    let index = dir.path().join("cache").join("index.redb");
    std::fs::write(&index, vec![0x5a; 8192]).unwrap();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    assert!(cache.keys().is_empty());
    assert!(cache.get(key(1), None).unwrap().is_none());
    assert!(!blob_path(&dir, &data).exists());
    assert!(
        dir.path()
            .join("cache")
            .join("index.redb.corrupt")
            .is_file()
    );
    cache
        .put(key(1), png(1, 100, CachingStrategy::Once))
        .unwrap();
    assert!(cache.get(key(1), None).unwrap().is_some());
}

#[test]
fn journal_survives_reopen() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let first_at = clock.now();
    {
        let cache = DiskCache::open(config(&dir, &clock)).unwrap();
        cache.journal_record(key(1), "gen-1").unwrap();
        clock.advance(Duration::from_secs(10));
        cache.journal_record(key(2), "gen-2").unwrap();
        clock.advance(Duration::from_secs(10));
        cache
            .journal_record_details(key(3), "gen-3", Some("{\"prompt\":\"x\"}"))
            .unwrap();
        assert!(cache.journal_finish(key(2)).unwrap());
        assert!(!cache.journal_finish(key(9)).unwrap());
    }
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    let pending = cache.journal_pending().unwrap();
    assert_eq!(
        pending,
        vec![
            JournalEntry {
                key: key(1),
                generation_id: "gen-1".into(),
                submitted_at: first_at,
                details: None,
            },
            JournalEntry {
                key: key(3),
                generation_id: "gen-3".into(),
                submitted_at: first_at + Duration::from_secs(20),
                details: Some("{\"prompt\":\"x\"}".into()),
            },
        ]
    );
    assert!(cache.journal_finish(key(1)).unwrap());
    assert!(cache.journal_finish(key(3)).unwrap());
    drop(cache);
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    assert!(cache.journal_pending().unwrap().is_empty());
}

#[test]
fn threads_share_one_cache() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let cache = DiskCache::open(config(&dir, &clock).max_bytes(20_000)).unwrap();
    // Every fifth entry repeats another's bytes, so blobs are shared.
    let seed_of = |n: u8| if n.is_multiple_of(5) { 0 } else { n };
    let workers: Vec<_> = (0..4u8)
        .map(|t| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                for i in 0..25u8 {
                    let n = t * 25 + i;
                    cache
                        .put(key(n), png(seed_of(n), 1000, CachingStrategy::Once))
                        .unwrap();
                    if let Some(got) = cache.get(key(n / 2), None).unwrap() {
                        assert_eq!(&got.bytes[..], &bytes(seed_of(n / 2), 1000)[..]);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(cache.stats().bytes <= 20_000);
    assert!(!cache.keys().is_empty());
    for key in cache.keys() {
        let got = cache
            .get(key, None)
            .unwrap()
            .expect("every indexed entry is intact");
        assert_eq!(&got.bytes[..], &bytes(seed_of(key.0[0]), 1000)[..]);
    }
}

#[test]
fn directory_resolution_prefers_explicit_then_env_then_platform() {
    let platform = Some(PathBuf::from("/home/u/.cache"));
    let explicit = Some(PathBuf::from("/explicit"));
    let env = Some(std::ffi::OsString::from("/from/env"));
    assert_eq!(
        resolve(explicit.clone(), env.clone(), platform.clone(), "game"),
        explicit
    );
    assert_eq!(
        resolve(None, env, platform.clone(), "game"),
        Some(PathBuf::from("/from/env"))
    );
    assert_eq!(
        resolve(None, Some("".into()), platform.clone(), "My Game"),
        Some(PathBuf::from("/home/u/.cache/My Game"))
    );
    assert_eq!(
        resolve(None, None, platform.clone(), "../a/b:c"),
        Some(PathBuf::from("/home/u/.cache/.._a_b_c"))
    );
    assert_eq!(resolve(None, None, platform, ".."), None);
    assert_eq!(resolve(None, None, None, "game"), None);
    assert_eq!(sanitize_component("  "), None);
}

#[test]
fn choice_counts_add_up_and_survive_reopen() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    {
        let cache = DiskCache::open(config(&dir, &clock)).unwrap();
        assert_eq!(cache.record_choice("lighthouse", "row_out").unwrap(), 1);
        assert_eq!(cache.record_choice("lighthouse", "row_out").unwrap(), 2);
        cache.record_choice("lighthouse", "ask_village").unwrap();
    }
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    let mut counts = cache.choice_counts().unwrap();
    counts.sort();
    assert_eq!(
        counts,
        vec![
            ("lighthouse".to_owned(), "ask_village".to_owned(), 1),
            ("lighthouse".to_owned(), "row_out".to_owned(), 2),
        ]
    );
}

#[test]
fn a_directory_holding_other_files_is_refused_and_left_untouched() {
    let dir = TempDir::new();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("tmp")).unwrap();
    std::fs::write(home.join("notes.txt"), b"mine").unwrap();
    std::fs::write(home.join("tmp").join("draft.txt"), b"mine too").unwrap();
    std::fs::write(
        home.join("tmp").join("123-4.tmp"),
        b"named like the cache's",
    )
    .unwrap();
    let err = DiskCache::open(DiskCacheConfig::new(&home)).unwrap_err();
    assert_eq!(err.kind(), AssetErrorKind::Io);
    assert!(err.message().contains(&home.display().to_string()), "{err}");
    assert!(err.message().contains("not the cache's"), "{err}");
    for file in ["notes.txt", "tmp/draft.txt", "tmp/123-4.tmp"] {
        assert!(home.join(file).is_file(), "{file} is still there");
    }
    assert!(!home.join("blobs").exists() && !home.join("index.redb").exists());
    assert!(!home.join(files::TAG_NAME).exists());

    // Another program's cache tag does not make the directory this cache's.
    let other = dir.path().join("other-cache");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(
        other.join(files::TAG_NAME),
        "Signature: 8a477f597d28d172789f06886806bc55\n# another tool\n",
    )
    .unwrap();
    assert!(DiskCache::open(DiskCacheConfig::new(&other)).is_err());
}

#[test]
fn a_new_cache_is_tagged_and_only_its_own_files_are_ever_deleted() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let root = dir.path().join("cache");
    {
        let cache = DiskCache::open(config(&dir, &clock)).unwrap();
        cache
            .put(key(1), png(1, 100, CachingStrategy::Once))
            .unwrap();
    }
    let tag = std::fs::read_to_string(root.join(files::TAG_NAME)).unwrap();
    assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55\n"));

    // What a game's user (or another program) left inside the tagged cache.
    let orphan_sha = sha256_hex(b"orphan");
    let orphan = root.join("blobs").join(&orphan_sha[..2]).join(&orphan_sha);
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"orphan").unwrap();
    let theirs = [
        root.join("notes.txt"),
        root.join("tmp").join("draft.txt"),
        root.join("tmp").join("12-x.tmp"),
        root.join("tmp").join("folder").join("123-4.tmp"),
        root.join("blobs").join("readme"),
        root.join("blobs").join(&orphan_sha[..2]).join("notes.txt"),
        root.join("blobs").join("zz").join(&orphan_sha),
    ];
    for file in &theirs {
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, b"not the cache's").unwrap();
    }
    let stale = root.join("tmp").join("123-4.tmp");
    let probe = root.join("tmp").join("probe-77");
    std::fs::write(&stale, b"half a blob").unwrap();
    std::fs::write(&probe, b"probe").unwrap();

    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    assert!(!stale.exists() && !probe.exists() && !orphan.exists());
    for file in &theirs {
        assert!(file.is_file(), "{} is still there", file.display());
    }
    assert!(cache.get(key(1), None).unwrap().is_some());
}

#[test]
fn a_cache_made_before_the_tag_is_still_opened_and_gets_tagged() {
    let dir = TempDir::new();
    let clock = TestClock::new();
    let root = dir.path().join("cache");
    {
        let cache = DiskCache::open(config(&dir, &clock)).unwrap();
        cache
            .put(key(1), png(1, 100, CachingStrategy::Once))
            .unwrap();
    }
    std::fs::remove_file(root.join(files::TAG_NAME)).unwrap();
    let cache = DiskCache::open(config(&dir, &clock)).unwrap();
    assert!(cache.get(key(1), None).unwrap().is_some());
    assert!(root.join(files::TAG_NAME).is_file());
}
