//! [`AssetProviderPlugin`]: wires the provider, its runtime, systems and messages into an app.

#[cfg(feature = "disk")]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bevy::asset::AssetEventSystems;
use bevy::prelude::*;

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

use crate::AssetProviderSystems;
#[cfg(feature = "pixsim")]
use crate::backend::PixSimSource;
use crate::cache::tier::DiskTier;
#[cfg(feature = "disk")]
use crate::cache::{CACHE_DIR_ENV, DiskCacheConfig, tier::MediaCheck};
use crate::chain::decode::MediaDecoders;
use crate::chain::{ChainConfig, SourceChain};
use crate::prediction::{PredictionPlugin, PredictionSettings, Predictor, WeightedPredictor};
use crate::provider::{AssetProvider, DiskStartTasks, Placeholders, ProviderParts, SpendCap};
use crate::request::MediaLimits;
use crate::request::{LONGEST_WAIT, PlaySession};
use crate::runtime::{ProviderRuntime, RuntimeConfig};
use crate::scene::ScenePlugin;
use crate::source::{AssetSource, LocalGenerator, PreMadeManifestPlugin, PreMadeSource};
use bevy::app::PluginGroupBuilder;

/// The manifest the default pre-made source reads, relative to the asset folder.
pub const DEFAULT_MANIFEST: &str = "premade/manifest.json";

/// The core of the plugin: adds the [`AssetProvider`] resource and everything that serves it.
///
/// Added alone, it also adds the add-ons of [`AssetProviderPlugins`] that are not in the app
/// yet. To leave some out, add [`AssetProviderPlugins`] instead and disable them there.
///
/// The default asks, after the memory tier, the game's pre-made assets (`premade/manifest.json`
/// in the app's asset folder, when it exists) and then the embedded [`LocalGenerator`]. Choose
/// your own chain with [`new`](Self::new) and [`with_source`](Self::with_source):
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy_asset_provider::prelude::*;
/// # use bevy_asset_provider::source::{LocalGenerator, PreMadeSource};
/// # use std::time::Duration;
/// App::new().add_plugins(
///     AssetProviderPlugin::new()
///         .with_source(PreMadeSource::from_manifest("premade/manifest.json"))
///         .with_source(LocalGenerator::new().latency(Duration::from_millis(800)))
///         .with_max_concurrent_generations(2)
///         .with_default_timeout(Duration::from_secs(30)),
/// );
/// ```
#[derive(Clone)]
pub struct AssetProviderPlugin {
    sources: Vec<Arc<dyn AssetSource>>,
    placeholders: Placeholders,
    runtime_threads: usize,
    max_concurrent_generations: usize,
    max_concurrent_decodes: usize,
    default_timeout: Duration,
    memory_capacity: usize,
    media_limits: MediaLimits,
    #[cfg(feature = "disk")]
    disk: DiskSetting,
    prediction: PredictionSettings,
    predictor: Arc<dyn Predictor>,
    offline: bool,
    spend_cap: SpendCap,
    session: PlaySession,
    /// Added by [`AssetProviderPlugins`], which adds the add-ons itself.
    in_group: bool,
}

/// Where the disk tier lives, if anywhere.
#[cfg(feature = "disk")]
#[derive(Clone, Debug)]
enum DiskSetting {
    Off,
    /// The platform's cache directory for the game (or `BEVY_ASSET_PROVIDER_CACHE_DIR`).
    ForGame(Option<String>),
    At(DiskCacheConfig),
}

impl Default for AssetProviderPlugin {
    fn default() -> Self {
        // Games without a manifest get no pre-made media, not an error per request.
        Self::new()
            .with_source(PreMadeSource::from_manifest(DEFAULT_MANIFEST).optional())
            .with_source(LocalGenerator::new())
    }
}

impl AssetProviderPlugin {
    /// A plugin with no sources: add them with [`with_source`](Self::with_source). Requests that
    /// no source serves fail and keep their placeholder.
    ///
    /// The memory tier and (with the `disk` feature) the disk tier are on: results are kept on
    /// disk under the platform's cache directory for the game (`~/.cache/<game>` on Linux, see
    /// [`with_game_name`](Self::with_game_name)), or under `BEVY_ASSET_PROVIDER_CACHE_DIR` when it
    /// is set. See [`with_disk_cache`](Self::with_disk_cache).
    #[must_use]
    pub fn new() -> Self {
        Self {
            sources: Vec::new(),
            placeholders: Placeholders::default(),
            runtime_threads: 2,
            max_concurrent_generations: 4,
            max_concurrent_decodes: 2,
            default_timeout: Duration::from_secs(60),
            memory_capacity: 64,
            media_limits: MediaLimits::default(),
            #[cfg(feature = "disk")]
            disk: DiskSetting::ForGame(None),
            prediction: PredictionSettings::default(),
            predictor: Arc::new(WeightedPredictor::default()),
            offline: false,
            spend_cap: SpendCap::default(),
            session: PlaySession::default(),
            in_group: false,
        }
    }

    /// The default chain with a generation backend in place of the embedded generator for
    /// what it can make: the pre-made manifest (when the app's asset folder has one), the backend's
    /// [library](PixSimSource::library), the backend's generations, then the embedded
    /// [`LocalGenerator`] for requests the backend passes on (audio, unless the backend has an
    /// [audio operation](crate::backend::PixSimSourceBuilder::audio_operation)). Replaces the
    /// sources added before.
    ///
    /// A generation the backend failed is not handed to the embedded generator: the task
    /// fails with the backend's error and the placeholder stays.
    ///
    /// ```no_run
    /// use bevy_asset_provider::prelude::*;
    /// use bevy_asset_provider::backend::PixSimSource;
    ///
    /// # fn main() -> Result<(), AssetError> {
    /// // PIXSIM_URL and PIXSIM_TOKEN, or a file named by PIXSIM_CONFIG.
    /// let backend = PixSimSource::builder_from_env()?.build()?;
    /// let plugin = AssetProviderPlugin::new().with_backend(backend);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "pixsim")]
    #[must_use]
    pub fn with_backend(mut self, backend: PixSimSource) -> Self {
        self.sources.clear();
        self = self.with_source(PreMadeSource::from_manifest(DEFAULT_MANIFEST).optional());
        // What the backend passes on is made here and now; simulating a wait helps no one.
        self.with_source(backend.library())
            .with_source(backend)
            .with_source(LocalGenerator::new().latency(Duration::ZERO))
    }

    /// Appends a source; sources are asked in the order they were added.
    #[must_use]
    pub fn with_source(mut self, source: impl AssetSource) -> Self {
        self.sources.push(Arc::new(source));
        self
    }

    /// Appends a shared source (for example one a test keeps a handle to).
    #[must_use]
    pub fn with_shared_source(mut self, source: Arc<dyn AssetSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Replaces every source.
    #[must_use]
    pub fn with_sources(mut self, sources: Vec<Arc<dyn AssetSource>>) -> Self {
        self.sources = sources;
        self
    }

    /// The image shown behind image and video handles until the real media arrives.
    #[must_use]
    pub fn with_placeholder_image(mut self, image: Image) -> Self {
        self.placeholders.image = image;
        self
    }

    /// A sound behind audio handles until the real one arrives (default: none, so an
    /// `AudioPlayer` starts when the real sound arrives).
    #[cfg(feature = "audio")]
    #[must_use]
    pub fn with_placeholder_audio(mut self, sound: AudioSource) -> Self {
        self.placeholders.audio = Some(sound);
        self
    }

    /// Worker threads of the provider's runtime (default 2).
    #[must_use]
    pub fn with_runtime_threads(mut self, threads: usize) -> Self {
        self.runtime_threads = threads.max(1);
        self
    }

    /// How many generator calls may run at once (default 4).
    #[must_use]
    pub fn with_max_concurrent_generations(mut self, limit: usize) -> Self {
        self.max_concurrent_generations = limit.max(1);
        self
    }

    /// How many decodes may run at once (default 2).
    #[must_use]
    pub fn with_max_concurrent_decodes(mut self, limit: usize) -> Self {
        self.max_concurrent_decodes = limit.max(1);
        self
    }

    /// How long a request waits when it sets no `max_wait` (default 60 s; at most 365 days,
    /// which longer timeouts become).
    #[must_use]
    pub fn with_default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout.min(LONGEST_WAIT);
        self
    }

    /// The largest images and video frames accepted (default [`MediaLimits::default`]: 8192
    /// pixels a side, 16,777,216 pixels). Sizes are read from headers before decoding; media
    /// over a limit fails its request with a `Decode` error.
    #[must_use]
    pub fn with_media_limits(mut self, limits: MediaLimits) -> Self {
        self.media_limits = limits;
        self
    }

    /// Caps the paid generations the player's own requests may start, per play session and
    /// per minute (default: no cap); a request past the cap fails with
    /// [`AssetErrorKind::SpendCapReached`](crate::AssetErrorKind::SpendCapReached). Prefetches
    /// have their own budget ([`with_prediction`](Self::with_prediction)). See [`SpendCap`].
    #[must_use]
    pub fn with_spend_cap(mut self, cap: SpendCap) -> Self {
        self.spend_cap = cap;
        self
    }

    /// Prefetches the likely next choices of scene graphs within `settings`' budget (on by
    /// default with [`PredictionSettings::default`]).
    #[must_use]
    pub fn with_prediction(mut self, settings: PredictionSettings) -> Self {
        self.prediction = settings;
        self
    }

    /// No prefetching.
    #[must_use]
    pub fn without_prediction(self) -> Self {
        self.with_prediction(PredictionSettings::off())
    }

    /// Ranks the next choices with `predictor` instead of [`WeightedPredictor`].
    #[must_use]
    pub fn with_predictor(mut self, predictor: impl Predictor) -> Self {
        self.predictor = Arc::new(predictor);
        self
    }

    /// No disk tier: results live in memory only. Builds without the `disk` feature have no
    /// disk tier; there this changes nothing.
    #[cfg_attr(
        not(feature = "disk"),
        expect(unused_mut, reason = "nothing to turn off")
    )]
    #[must_use]
    pub fn without_disk_cache(mut self) -> Self {
        #[cfg(feature = "disk")]
        {
            self.disk = DiskSetting::Off;
        }
        self
    }

    /// Offline mode (default off): nothing is generated and no network is touched. Requests
    /// are served from the memory and disk tiers and the pre-made sources that work from local
    /// files; sources that [generate](crate::source::SourceKind::Generated) or
    /// [may use the network](crate::source::AssetSource::uses_network) (any source that does
    /// not say it works from local files only) are skipped, and jobs a
    /// backend was running when the game last stopped stay journalled for a start online.
    /// A request nothing serves keeps its placeholder and fails as
    /// [`NoSource`](crate::AssetErrorKind::NoSource), with one warning per request key that
    /// names it. Bake a story first (`cargo run --example bake`) so it plays offline whole.
    #[must_use]
    pub fn with_offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Whether the plugin is in [offline mode](Self::with_offline).
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// The play session the provider starts in (default [`PlaySession::default`]). Change it
    /// later with [`AssetProvider::set_session`].
    #[must_use]
    pub fn with_session(mut self, session: PlaySession) -> Self {
        self.session = session;
        self
    }

    /// How many completed results the memory tier keeps (default 64; 0 turns it off). Each
    /// entry keeps its media alive, so size it to what a scene reuses.
    #[must_use]
    pub fn with_memory_capacity(mut self, entries: usize) -> Self {
        self.memory_capacity = entries;
        self
    }
}

impl AssetProviderPlugin {
    /// The sources, in the order they are asked.
    pub fn sources(&self) -> &[Arc<dyn AssetSource>] {
        &self.sources
    }

    /// The chain a request goes through as configured: the sources in order over the disk
    /// tier, with the limits that apply while asking them.
    pub(crate) fn source_chain(&self, decoders: MediaDecoders) -> SourceChain {
        let decoders = Arc::new(decoders);
        #[cfg(feature = "disk")]
        let disk = self.disk_tier(decoders.clone());
        #[cfg(not(feature = "disk"))]
        let disk: Option<Arc<DiskTier>> = None;
        let config = ChainConfig {
            max_concurrent_generations: self.max_concurrent_generations,
            max_concurrent_decodes: self.max_concurrent_decodes,
            media_limits: self.media_limits,
            offline: self.offline,
            default_timeout: self.default_timeout,
            decoders,
        };
        SourceChain::new(self.sources.clone(), disk, config)
    }
}

/// Where the disk tier lives.
#[cfg(feature = "disk")]
impl AssetProviderPlugin {
    /// Keeps results in the disk tier configured by `config` (a directory, a size cap, when
    /// reads are verified). The cache is opened off the frame on first use; a directory that
    /// cannot be used is logged once and the plugin goes on memory-only.
    #[must_use]
    pub fn with_disk_cache(mut self, config: DiskCacheConfig) -> Self {
        self.disk = DiskSetting::At(config);
        self
    }

    /// Keeps results on disk under `directory`, with the default cap (2 GiB).
    #[must_use]
    pub fn with_disk_cache_dir(self, directory: impl Into<PathBuf>) -> Self {
        self.with_disk_cache(DiskCacheConfig::new(directory))
    }

    /// Your game's name: the disk tier lives in the platform's cache directory under it
    /// (`~/.cache/<name>` on Linux). Without it, the directory is
    /// `~/.cache/bevy_asset_provider/<executable name>`, which two games whose executables share
    /// a name (`game`, `main`) would share; set it.
    #[must_use]
    pub fn with_game_name(mut self, name: impl Into<String>) -> Self {
        self.disk = DiskSetting::ForGame(Some(name.into()));
        self
    }

    fn disk_tier(&self, decoders: Arc<MediaDecoders>) -> Option<Arc<DiskTier>> {
        let config = match &self.disk {
            DiskSetting::Off => return None,
            DiskSetting::At(config) => config.clone(),
            DiskSetting::ForGame(name) => {
                let directory = match name {
                    Some(name) => DiskCacheConfig::default_directory(name),
                    // Inside a folder of our own: an executable's name alone might be another
                    // program's cache directory.
                    None => match std::env::var_os(CACHE_DIR_ENV).filter(|dir| !dir.is_empty()) {
                        Some(directory) => Some(PathBuf::from(directory)),
                        None => DiskCacheConfig::default_directory(DEFAULT_CACHE_FOLDER)
                            .map(|folder| folder.join(executable_name())),
                    },
                };
                let name = name.clone().unwrap_or_else(executable_name);
                match directory {
                    Some(directory) => DiskCacheConfig::new(directory),
                    None => {
                        warn!("no cache directory for {name:?} on this platform: memory only");
                        return None;
                    }
                }
            }
        };
        let limits = self.media_limits;
        let check: MediaCheck =
            Arc::new(move |kind, media| decoders.decode(kind, media, &limits).map(|_| ()));
        Some(Arc::new(DiskTier::new(config, check)))
    }
}

/// The folder of the default cache directories of games that set no name.
#[cfg(feature = "disk")]
const DEFAULT_CACHE_FOLDER: &str = "bevy_asset_provider";

/// The running executable's name, for the default cache directory.
#[cfg(feature = "disk")]
fn executable_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|path| {
            path.file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "bevy_asset_provider".to_owned())
}

impl Plugin for AssetProviderPlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(
            PostUpdate,
            AssetProviderSystems::Flush.before(AssetEventSystems),
        )
        .configure_sets(
            Update,
            AssetProviderSystems::Predict.after(AssetProviderSystems::Request),
        );
        crate::provider::systems::add_to(app);
        app.add_plugins(crate::asset_server::GeneratedAssetLoadersPlugin);
        if !self.in_group {
            self.add_missing_add_ons(app);
        }
    }

    fn finish(&self, app: &mut App) {
        // Handles are reserved from these collections; games without ImagePlugin or AudioPlugin
        // (headless tests) still need them.
        if !app.world().contains_resource::<Assets<Image>>() {
            app.init_asset::<Image>();
        }
        #[cfg(feature = "audio")]
        if !app.world().contains_resource::<Assets<AudioSource>>() {
            app.init_asset::<AudioSource>();
        }
        let config = RuntimeConfig {
            worker_threads: self.runtime_threads,
            disk_tasks: app
                .world_mut()
                .remove_resource::<DiskStartTasks>()
                .map(|tasks| tasks.0)
                .unwrap_or_default(),
        };
        let decoders = app.world().get_resource::<MediaDecoders>().cloned();
        let chain = self.source_chain(decoders.unwrap_or_default());
        let disk = chain.disk().cloned();
        let (runtime, commands, events) =
            ProviderRuntime::start(chain, &config).unwrap_or_else(|error| {
                panic!("the asset provider could not start its runtime threads: {error}")
            });
        let world = app.world();
        let parts = ProviderParts {
            commands,
            events,
            runtime,
            image_handles: world.resource::<Assets<Image>>().get_handle_provider(),
            #[cfg(feature = "audio")]
            audio_handles: world
                .resource::<Assets<AudioSource>>()
                .get_handle_provider(),
            placeholders: self.placeholders.clone(),
            default_timeout: self.default_timeout,
            memory_capacity: self.memory_capacity,
            disk,
            spend_cap: self.spend_cap,
            session: self.session.clone(),
            stills: crate::source::PreMadeStills::for_sources(&self.sources),
        };
        app.insert_resource(AssetProvider::new(parts));
    }
}

impl AssetProviderPlugin {
    /// The add-ons a lone core plugin adds, skipping those the game added itself.
    fn add_missing_add_ons(&self, app: &mut App) {
        if !app.is_plugin_added::<crate::observe::ObservePlugin>() {
            app.add_plugins(crate::observe::ObservePlugin);
        }
        if !app.is_plugin_added::<ScenePlugin>() {
            app.add_plugins(ScenePlugin);
        }
        if !app.is_plugin_added::<PredictionPlugin>() {
            app.add_plugins(self.prediction_plugin());
        }
        if !app.is_plugin_added::<PreMadeAssetsPlugin>() {
            app.add_plugins(PreMadeAssetsPlugin::for_sources(&self.sources));
        }
        #[cfg(feature = "video")]
        if !app.is_plugin_added::<crate::video::VideoPlugin>() {
            app.add_plugins(crate::video::VideoPlugin);
        }
    }

    /// Prediction as [`with_prediction`](Self::with_prediction) and
    /// [`with_predictor`](Self::with_predictor) set it.
    fn prediction_plugin(&self) -> PredictionPlugin {
        PredictionPlugin::new(self.prediction.clone(), self.predictor.clone())
    }
}

/// Every part of the plugin, as a group a game trims:
///
/// - [`AssetProviderPlugin`]: the core (the provider, its runtime, its systems, `gen://` paths),
/// - [`ObservePlugin`](crate::observe::ObservePlugin): analytics and diagnostics,
/// - [`ScenePlugin`]: scene graphs and their media,
/// - [`PredictionPlugin`]: prefetching the likely next choices (needs [`ScenePlugin`]),
/// - [`PreMadeAssetsPlugin`]: pre-made manifests loaded and reloaded through the asset server,
/// - `VideoPlugin` (with the `video` feature): clips decoded and played.
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy_asset_provider::prelude::*;
/// use bevy_asset_provider::prediction::PredictionPlugin;
///
/// App::new().add_plugins((
///     DefaultPlugins,
///     AssetProviderPlugins::from(AssetProviderPlugin::default().with_game_name("my_game"))
///         .build()
///         .disable::<PredictionPlugin>(),
/// ));
/// ```
#[derive(Clone, Default)]
pub struct AssetProviderPlugins {
    core: AssetProviderPlugin,
}

impl From<AssetProviderPlugin> for AssetProviderPlugins {
    fn from(core: AssetProviderPlugin) -> Self {
        Self { core }
    }
}

impl PluginGroup for AssetProviderPlugins {
    fn build(self) -> PluginGroupBuilder {
        let prediction = self.core.prediction_plugin();
        let pre_made = PreMadeAssetsPlugin::for_sources(&self.core.sources);
        let core = AssetProviderPlugin {
            in_group: true,
            ..self.core
        };
        let group = PluginGroupBuilder::start::<Self>()
            .add(core)
            .add(crate::observe::ObservePlugin)
            .add(ScenePlugin)
            .add(prediction)
            .add(pre_made);
        #[cfg(feature = "video")]
        let group = group.add(crate::video::VideoPlugin);
        group
    }
}

/// Serves the chain's [`PreMadeSource`]s through the app's asset server: their manifests are
/// loaded (and hot-reloaded) as assets and their files read with the server's readers. Without
/// it a pre-made source reads its folder itself, as without Bevy. Part of
/// [`AssetProviderPlugins`].
pub struct PreMadeAssetsPlugin(PreMadeManifestPlugin);

impl PreMadeAssetsPlugin {
    /// Follows the pre-made sources among `sources`.
    fn for_sources(sources: &[Arc<dyn AssetSource>]) -> Self {
        Self(PreMadeManifestPlugin::for_sources(sources))
    }
}

impl Plugin for PreMadeAssetsPlugin {
    fn build(&self, app: &mut App) {
        self.0.build(app);
    }

    fn finish(&self, app: &mut App) {
        self.0.finish(app);
    }
}
