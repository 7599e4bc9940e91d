//! The disk rows of the fault matrix: the cache directory and its clock misbehaving.

use super::*;

fn disk_app(config: DiskCacheConfig) -> (App, Arc<FakeGenerator>) {
    warnings_about("");
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 4,
        height: 4,
    });
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .with_shared_source(source.clone())
            .with_disk_cache(config)
            .with_default_timeout(Duration::from_secs(10)),
    );
    app.update();
    (app, source)
}

fn completes(app: &mut App, prompt: &str) -> GenerationTask {
    let done = run(app, AssetRequest::image().prompt(prompt));
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    done
}

fn disk_stats(app: &App) -> Option<bevy_asset_provider::cache::DiskStats> {
    app.world().resource::<AssetProvider>().disk().stats()
}

#[test]
fn disk_full_disk() {
    let dir = TempDir::new("full-disk");
    let cache = dir.path().join("cache");
    let (mut app, _) = disk_app(DiskCacheConfig::new(&cache));
    completes(&mut app, "before");
    update_until(&mut app, "the first result on disk", |app| {
        disk_stats(app).is_some_and(|stats| stats.entries == 1)
    });
    // Every write from now on fails, as on a full disk.
    std::fs::remove_dir_all(cache.join("tmp")).unwrap();
    std::fs::write(cache.join("tmp"), b"").unwrap();
    for prompt in ["after", "and after"] {
        completes(&mut app, prompt);
    }
    update_until(&mut app, "the failed write to be warned about", |_| {
        !warnings_about(&cache.display().to_string()).is_empty()
    });
    let warned = warnings_about(&cache.display().to_string());
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("memory only"), "{warned:?}");
    assert_eq!(disk_stats(&app).map(|stats| stats.entries), Some(1));
}

/// Makes a directory read-only for the test's life: by its mode, or (for root, whom modes do
/// not stop) by the immutable attribute. `None` where neither stops a write.
struct ReadOnly(Vec<std::path::PathBuf>);

impl ReadOnly {
    #[cfg(unix)]
    fn new(dirs: &[std::path::PathBuf]) -> Option<Self> {
        use std::os::unix::fs::PermissionsExt;
        let guard = Self(dirs.to_vec());
        for dir in dirs {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        if guard.writable() {
            for dir in dirs {
                let _ = std::process::Command::new("chattr")
                    .arg("+i")
                    .arg(dir)
                    .status();
            }
        }
        (!guard.writable()).then_some(guard)
    }

    #[cfg(not(unix))]
    fn new(_: &[std::path::PathBuf]) -> Option<Self> {
        None
    }

    fn writable(&self) -> bool {
        let probe = self.0[0].join("probe");
        let written = std::fs::write(&probe, b"x").is_ok();
        let _ = std::fs::remove_file(probe);
        written
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        #[cfg(unix)]
        for dir in &self.0 {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(dir)
                .stderr(std::process::Stdio::null())
                .status();
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
        }
    }
}

#[test]
fn disk_read_only_cache_directory_at_start() {
    let dir = TempDir::new("read-only");
    let cache = dir.path().join("cache");
    {
        let (mut app, _) = disk_app(DiskCacheConfig::new(&cache));
        completes(&mut app, "kept");
        update_until(&mut app, "the result on disk", |app| {
            disk_stats(app).is_some_and(|stats| stats.entries == 1)
        });
    }
    let Some(_read_only) = ReadOnly::new(&[cache.clone(), cache.join("tmp"), cache.join("blobs")])
    else {
        eprintln!("skipped: nothing here makes a directory read-only for this user");
        return;
    };
    let (mut app, source) = disk_app(DiskCacheConfig::new(&cache));
    completes(&mut app, "new");
    update_until(&mut app, "the directory to be warned about", |_| {
        !warnings_about(&cache.display().to_string()).is_empty()
    });
    assert_eq!(warnings_about(&cache.display().to_string()).len(), 1);
    assert_eq!(disk_stats(&app), None, "memory only");
    assert_eq!(source.calls(), 1);
}

#[test]
fn disk_corrupt_index_file() {
    let dir = TempDir::new("corrupt-index");
    let cache = dir.path().join("cache");
    {
        let (mut app, _) = disk_app(DiskCacheConfig::new(&cache));
        completes(&mut app, "kept");
        update_until(&mut app, "the result on disk", |app| {
            disk_stats(app).is_some_and(|stats| stats.entries == 1)
        });
    }
    std::fs::write(cache.join("index.redb"), vec![0x5a; 8192]).unwrap();
    let (mut app, source) = disk_app(DiskCacheConfig::new(&cache));
    let done = completes(&mut app, "kept");
    assert_eq!(
        done.source(),
        Some(SourceKind::Generated),
        "the index started over"
    );
    assert_eq!(source.calls(), 1);
    assert!(cache.join("index.redb.corrupt").is_file());
    update_until(&mut app, "the new index to hold the result", |app| {
        disk_stats(app).is_some_and(|stats| stats.entries == 1)
    });
}

#[test]
fn disk_two_apps_on_one_cache_directory() {
    let dir = TempDir::new("two-apps");
    let cache = dir.path().join("cache");
    let (mut first, _) = disk_app(DiskCacheConfig::new(&cache));
    completes(&mut first, "shared");
    update_until(&mut first, "the first app's cache to open", |app| {
        disk_stats(app).is_some()
    });
    let (mut second, _) = disk_app(DiskCacheConfig::new(&cache));
    completes(&mut second, "shared");
    completes(&mut second, "its own");
    assert_eq!(disk_stats(&second), None, "memory only");
    let warned = warnings_about(&cache.display().to_string());
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("already open"), "{warned:?}");
    // The first keeps its cache.
    completes(&mut first, "still on disk");
    update_until(&mut first, "the first app to keep writing", |app| {
        disk_stats(app).is_some_and(|stats| stats.entries == 2)
    });
}

#[test]
fn disk_not_a_cache_directory() {
    let dir = TempDir::new("home");
    let home = dir.path().to_owned();
    std::fs::create_dir_all(home.join("tmp")).unwrap();
    std::fs::write(home.join(".bashrc"), b"# mine").unwrap();
    std::fs::write(home.join("tmp").join("draft.txt"), b"mine").unwrap();
    let (mut app, _) = disk_app(DiskCacheConfig::new(&home));
    completes(&mut app, "anything");
    update_until(&mut app, "the refusal to be warned about", |_| {
        !warnings_about(&home.display().to_string()).is_empty()
    });
    let warned = warnings_about(&home.display().to_string());
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("not the cache's"), "{warned:?}");
    assert_eq!(disk_stats(&app), None, "memory only");
    assert!(home.join(".bashrc").is_file() && home.join("tmp").join("draft.txt").is_file());
    assert!(!home.join("index.redb").exists() && !home.join("blobs").exists());
}

#[test]
fn disk_clock_moving_backwards_and_forwards() {
    let dir = TempDir::new("clock");
    let start = SystemTime::now();
    let now = Arc::new(Mutex::new(start));
    let clock = {
        let now = now.clone();
        move || *now.lock().unwrap()
    };
    let config = DiskCacheConfig::new(dir.path().join("cache")).clock(clock);
    let (mut app, _) = disk_app(config);
    let year = Duration::from_secs(365 * 24 * 3600);
    let again = |app: &mut App, at: SystemTime| {
        *now.lock().unwrap() = at;
        app.world_mut()
            .resource_mut::<AssetProvider>()
            .clear_memory();
        completes(app, "the mill").source()
    };
    assert_eq!(again(&mut app, start), Some(SourceKind::Generated));
    update_until(&mut app, "the result on disk", |app| {
        disk_stats(app).is_some_and(|stats| stats.entries == 1)
    });
    // Ten years back: nothing expires early, nothing panics.
    assert_eq!(again(&mut app, start - 10 * year), Some(SourceKind::Cached));
    // Before the epoch: times count as the epoch.
    let before_epoch = SystemTime::UNIX_EPOCH - year;
    assert_eq!(again(&mut app, before_epoch), Some(SourceKind::Cached));
    // Two years on, past `once`'s 365 days: made again.
    assert_eq!(
        again(&mut app, start + 2 * year),
        Some(SourceKind::Generated)
    );
    update_until(&mut app, "the new result on disk", |app| {
        disk_stats(app).is_some_and(|stats| stats.expired_swept == 1 && stats.entries == 1)
    });
    assert_eq!(again(&mut app, start + 2 * year), Some(SourceKind::Cached));
}
