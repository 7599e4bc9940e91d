//! [`DiskCacheConfig`]: where the disk cache lives, how big it may grow, and its clock.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

/// The environment variable that overrides the platform cache directory (see
/// [`DiskCacheConfig::resolve_directory`]). Its value is used as the cache directory itself, so
/// it must name an empty, new or cache directory: one holding other files and no
/// `CACHEDIR.TAG` is refused, and the plugin keeps results in memory.
pub const CACHE_DIR_ENV: &str = "BEVY_ASSET_PROVIDER_CACHE_DIR";

/// The default size cap: 2 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The wall clock the cache reads for creation, expiry and last-use times.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// When a disk hit's blob is checked against the hash its index row keeps (its BLAKE3; its
/// SHA-256 for rows written before the index kept a BLAKE3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum VerifyReads {
    /// The first time a blob is read after the cache is opened (or after it is written again).
    /// Later reads of it only check its length.
    #[default]
    FirstUse,
    /// On every read.
    Always,
}

/// How the plugin opens its disk tier: the directory, size cap, clock and how reads are
/// verified. Hand it to `AssetProviderPlugin::with_disk_cache`.
///
/// ```
/// # use bevy_asset_provider::cache::{DiskCacheConfig, VerifyReads};
/// let directory = DiskCacheConfig::resolve_directory(None, "My Game")
///     .unwrap_or_else(|| std::env::temp_dir().join("my_game_cache"));
/// let config = DiskCacheConfig::new(directory)
///     .max_bytes(512 * 1024 * 1024)
///     .verify_reads(VerifyReads::Always);
/// ```
#[derive(Clone)]
pub struct DiskCacheConfig {
    pub(super) directory: PathBuf,
    pub(super) max_bytes: u64,
    pub(super) clock: Clock,
    pub(super) verify_reads: VerifyReads,
    pub(super) serve_retired_sources: bool,
}

impl DiskCacheConfig {
    /// A configuration for a cache in `directory`, with a 2 GiB cap, the system clock and
    /// [`VerifyReads::FirstUse`].
    pub fn new(directory: impl Into<PathBuf>) -> Self {
        Self {
            directory: directory.into(),
            max_bytes: DEFAULT_MAX_BYTES,
            clock: Arc::new(SystemTime::now),
            verify_reads: VerifyReads::default(),
            serve_retired_sources: false,
        }
    }

    /// Sets the cache directory.
    pub fn directory(mut self, directory: PathBuf) -> Self {
        self.directory = directory;
        self
    }

    /// The cache directory.
    pub fn path(&self) -> &std::path::Path {
        &self.directory
    }

    /// Sets the size cap in bytes: past it, least recently used entries are evicted.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets the wall clock the cache reads for creation, expiry and last-use times (a test
    /// moves time with it instead of sleeping).
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sets when reads are verified.
    pub fn verify_reads(mut self, verify_reads: VerifyReads) -> Self {
        self.verify_reads = verify_reads;
        self
    }

    /// Whether the plugin serves entries whose source is no longer the one its chain would ask
    /// (default `false`). Each entry records the [identity](crate::source::AssetSource::id) of
    /// the source that made it (a backend's URL and provider, the embedded generator and its
    /// version); by default a request is served an entry only when that source is still the
    /// one it would go to, so media the embedded generator made is not shown once a backend is
    /// configured, nor an old backend's once a new one is. `true` keeps serving what any source
    /// made.
    pub fn serve_retired_sources(mut self, serve: bool) -> Self {
        self.serve_retired_sources = serve;
        self
    }

    /// See [`serve_retired_sources`](Self::serve_retired_sources).
    pub fn serves_retired_sources(&self) -> bool {
        self.serve_retired_sources
    }

    /// The platform's per-user cache directory joined with `game_name`, unless
    /// [`CACHE_DIR_ENV`] is set, in which case its value.
    ///
    /// `game_name` becomes one path component: path separators and characters that are not
    /// portable in file names are replaced with `_`. `None` when the name is empty (or only dots)
    /// and the variable is unset, or the platform has no cache directory.
    pub fn default_directory(game_name: &str) -> Option<PathBuf> {
        Self::resolve_directory(None, game_name)
    }

    /// The directory to use: `explicit` if given, else [`CACHE_DIR_ENV`] if set and not empty,
    /// else the platform default (see [`default_directory`](Self::default_directory)).
    pub fn resolve_directory(explicit: Option<PathBuf>, game_name: &str) -> Option<PathBuf> {
        resolve(
            explicit,
            std::env::var_os(CACHE_DIR_ENV),
            dirs::cache_dir(),
            game_name,
        )
    }
}

impl fmt::Debug for DiskCacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskCacheConfig")
            .field("directory", &self.directory)
            .field("max_bytes", &self.max_bytes)
            .field("verify_reads", &self.verify_reads)
            .field("serve_retired_sources", &self.serve_retired_sources)
            .finish_non_exhaustive()
    }
}

/// The resolution order, apart from the process environment so it can be tested.
pub(super) fn resolve(
    explicit: Option<PathBuf>,
    env: Option<OsString>,
    platform: Option<PathBuf>,
    game_name: &str,
) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir);
    }
    if let Some(dir) = env.filter(|value| !value.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    Some(platform?.join(sanitize_component(game_name)?))
}

/// `name` as a single portable file-name component, or `None` if nothing usable is left.
pub(super) fn sanitize_component(name: &str) -> Option<String> {
    let cleaned: String = name
        .trim()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // "." and ".." would name the parent; trailing dots and spaces are dropped on Windows.
    let cleaned = cleaned.trim_end_matches(['.', ' ']);
    if cleaned.is_empty() {
        None
    } else {
        Some(cleaned.to_owned())
    }
}
