//! Kills a process writing to the disk cache at varied points, 100 times over one directory, and
//! checks after each kill that the cache opens and serves only the bytes that were put.
//!
//! The test re-runs its own binary filtered to `writer_child`, which writes only when
//! `WRITER_DIR_ENV` is set.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::tests::TempDir;
use super::{DiskCache, DiskCacheConfig, NewEntry};
use crate::request::{CachingStrategy, MediaKind, RequestKey};

const WRITER_DIR_ENV: &str = "BAP_DISK_CRASH_WRITER_DIR";
const WRITER_ROUND_ENV: &str = "BAP_DISK_CRASH_WRITER_ROUND";
const WRITER_READY_ENV: &str = "BAP_DISK_CRASH_WRITER_READY";
const ROUNDS: u64 = 100;
const KEYS: u64 = 48;
/// Smaller than what the writer puts, so evictions happen too.
const MAX_BYTES: u64 = 4 * 1024 * 1024;
const HEADER: usize = 40;

fn key(n: u64) -> RequestKey {
    RequestKey(Sha256::digest(format!("crash-key-{n}")).into())
}

fn strategy(n: u64) -> CachingStrategy {
    match n % 3 {
        0 => CachingStrategy::Once,
        1 => CachingStrategy::PerPlaythrough,
        _ => CachingStrategy::PerPlayer,
    }
}

fn scope(n: u64) -> Option<String> {
    match strategy(n) {
        CachingStrategy::PerPlaythrough => Some("pt:crash".to_owned()),
        CachingStrategy::PerPlayer => Some("player:crash".to_owned()),
        _ => None,
    }
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// 1–200 KB derived from `seed`: SHA-256 of the rest, the seed, then filler. Checkable without
/// the cache.
fn payload(seed: u64) -> Vec<u8> {
    let mut state = xorshift(seed | 1);
    let len = 1024 + (state % (199 * 1024)) as usize;
    let mut body = Vec::with_capacity(len);
    body.extend_from_slice(&seed.to_le_bytes());
    while body.len() < len - 32 {
        state = xorshift(state);
        body.extend_from_slice(&state.to_le_bytes());
    }
    body.truncate(len - 32);
    let mut out = Sha256::digest(&body).to_vec();
    out.extend_from_slice(&body);
    out
}

/// The seed of an intact payload, or why it is not one.
fn check_payload(bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() < HEADER {
        return Err(format!("{} bytes is too short", bytes.len()));
    }
    if Sha256::digest(&bytes[32..]).as_slice() != &bytes[..32] {
        return Err("SHA-256 does not match".to_owned());
    }
    let seed = u64::from_le_bytes(bytes[32..HEADER].try_into().map_err(|_| "no seed")?);
    if payload(seed) != bytes {
        return Err(format!("not the payload of seed {seed}"));
    }
    Ok(seed)
}

fn config(dir: &Path) -> DiskCacheConfig {
    DiskCacheConfig::new(dir).max_bytes(MAX_BYTES)
}

/// The writer: does nothing unless started by `killed_writers_never_leave_bad_bytes`.
#[test]
fn writer_child() {
    let Some(dir) = std::env::var_os(WRITER_DIR_ENV) else {
        return;
    };
    let round: u64 = std::env::var(WRITER_ROUND_ENV)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let cache = match DiskCache::open(config(Path::new(&dir))) {
        Ok(cache) => cache,
        Err(e) => {
            eprintln!("writer: open failed: {e}");
            std::process::exit(3);
        }
    };
    if let Some(ready) = std::env::var_os(WRITER_READY_ENV) {
        let _ = std::fs::write(ready, b"ready");
    }
    // Bounded in count and time in case the kill never comes.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut state = xorshift(round.wrapping_mul(7919).wrapping_add(17));
    for i in 0..2000u64 {
        if Instant::now() > deadline {
            break;
        }
        state = xorshift(state);
        let n = state % KEYS;
        // Every fourth put reuses one of a few payloads, so blobs are shared between keys.
        let seed = if state.is_multiple_of(4) {
            state % 6
        } else {
            state
        };
        let entry = NewEntry::new(
            payload(seed),
            MediaKind::Image,
            "application/octet-stream",
            strategy(n),
            "crash-writer",
        )
        .scope(scope(n))
        .generation_id(format!("gen-{seed}"));
        if let Err(e) = cache.put(key(n), entry) {
            eprintln!("writer: put failed: {e}");
            std::process::exit(4);
        }
        let other = xorshift(state) % KEYS;
        let outcome = match i % 7 {
            0 => cache.remove(key(other)).map(drop),
            1 => cache.journal_record(key(other), &format!("job-{i}")),
            2 => cache.journal_finish(key(other)).map(drop),
            _ => cache.get(key(other), scope(other).as_deref()).map(drop),
        };
        if let Err(e) = outcome {
            eprintln!("writer: {e}");
            std::process::exit(5);
        }
    }
}

fn spawn_writer(root: &Path, cache_dir: &Path, ready: &Path, round: u64) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    let stderr = std::fs::File::create(root.join("writer-stderr.txt")).expect("stderr file");
    Command::new(exe)
        .args([
            "--exact",
            "cache::disk::tests_crash::writer_child",
            "--test-threads=1",
            "--nocapture",
            "-q",
        ])
        .env(WRITER_DIR_ENV, cache_dir)
        .env(WRITER_ROUND_ENV, round.to_string())
        .env(WRITER_READY_ENV, ready)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start writer")
}

/// Waits (at most 10 s) for the writer to have opened the cache.
fn wait_ready(child: &mut Child, ready: &Path, root: &Path, round: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let stderr =
                std::fs::read_to_string(root.join("writer-stderr.txt")).unwrap_or_default();
            panic!("round {round}: writer exited early ({status}): {stderr}");
        }
        assert!(
            Instant::now() < deadline,
            "round {round}: writer not ready after 10 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Opens the cache and reads every indexed entry; returns how many were served.
fn check_cache(cache_dir: &Path, round: u64, known: &HashMap<RequestKey, u64>) -> usize {
    let cache = DiskCache::open(config(cache_dir))
        .unwrap_or_else(|e| panic!("round {round}: open failed: {e}"));
    let mut served = 0;
    for key in cache.keys() {
        let n = *known
            .get(&key)
            .unwrap_or_else(|| panic!("round {round}: unknown key {key}"));
        let entry = cache
            .get(key, scope(n).as_deref())
            .unwrap_or_else(|e| panic!("round {round}: read of {key} failed: {e}"));
        let Some(entry) = entry else {
            continue;
        };
        let seed = check_payload(&entry.bytes)
            .unwrap_or_else(|why| panic!("round {round}: {key} served bad bytes: {why}"));
        assert_eq!(entry.size, entry.bytes.len() as u64, "round {round}");
        assert_eq!(entry.strategy, strategy(n), "round {round}");
        assert_eq!(entry.source, "crash-writer", "round {round}");
        // The row and the blob come from the same put.
        assert_eq!(
            entry.generation_id,
            Some(format!("gen-{seed}")),
            "round {round}"
        );
        served += 1;
    }
    let stats = cache.stats();
    assert!(
        stats.bytes <= MAX_BYTES,
        "round {round}: {} bytes",
        stats.bytes
    );
    // A killed process leaves whole blobs behind (they are renamed into place before their row
    // is committed), so no row ever points at a missing or partial blob.
    assert_eq!(stats.corrupt_evicted, 0, "round {round}: {stats:?}");
    cache
        .journal_pending()
        .unwrap_or_else(|e| panic!("round {round}: journal unreadable: {e}"));
    served
}

#[test]
fn killed_writers_never_leave_bad_bytes() {
    if std::env::var_os(WRITER_DIR_ENV).is_some() {
        return;
    }
    let root = TempDir::new();
    let cache_dir = root.path().join("cache");
    let ready = root.path().join("ready");
    let known: HashMap<RequestKey, u64> = (0..KEYS).map(|n| (key(n), n)).collect();
    let started = Instant::now();
    let mut served = 0;

    for round in 0..ROUNDS {
        let _ = std::fs::remove_file(&ready);
        let mut child = spawn_writer(root.path(), &cache_dir, &ready, round);
        // Most kills land in the write loop; every fifth may land while the writer starts up or
        // opens (and repairs) the cache.
        if !round.is_multiple_of(5) {
            wait_ready(&mut child, &ready, root.path(), round);
        }
        std::thread::sleep(Duration::from_millis(2 + (round * 13) % 39));
        // SIGKILL on Unix: no destructors, no flushes.
        let _ = child.kill();
        let status = child.wait().expect("reap writer");
        if status.code().is_some_and(|code| code != 0) {
            let stderr =
                std::fs::read_to_string(root.path().join("writer-stderr.txt")).unwrap_or_default();
            panic!("round {round}: writer failed ({status}): {stderr}");
        }
        served += check_cache(&cache_dir, round, &known);
    }

    assert!(
        served > 0,
        "no entry was ever served: the writer never wrote"
    );
    eprintln!(
        "{ROUNDS} kills, {served} entries checked, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
