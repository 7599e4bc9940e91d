//! The command line, read with `argh`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use bevy::prelude::*;
use pixsim_dev::LatencyProfile;

/// Where generated media comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Backend {
    /// A dev backend on 127.0.0.1, started by this process.
    Dev,
    /// A dev backend that behaves like the real PixSim7 service (its dedup and cache keys, its
    /// rate limit, its errors and event shapes, cancels that lose the race).
    DevReal,
    /// The embedded generator; no backend.
    Local,
    /// A backend at this URL.
    Remote(String),
}

/// A branching story whose pictures and sound cues come from the asset provider.
#[derive(FromArgs)]
struct Args {
    /// play a scripted path without a window, printing one JSON object per line
    #[argh(switch)]
    headless: bool,
    /// the path, 1-based per node (a window plays it by itself): 1,2,1
    #[argh(option, from_str_fn(choices))]
    choices: Option<VecDeque<usize>>,
    /// URL of a PixSim7 backend, `local` (the embedded generator only), `dev` (a loopback dev
    /// backend, the default) or `dev-real` (one behaving like the real service)
    #[argh(option)]
    backend: Option<String>,
    /// the backend's bearer token (with --backend URL)
    #[argh(option)]
    token: Option<String>,
    /// play the backend's scene ID instead of the bundled story
    #[argh(option)]
    scene: Option<String>,
    /// the provider sent with creates (default pixverse)
    #[argh(option)]
    provider: Option<String>,
    /// how long a generation takes on the dev backend or the embedded generator, in ms
    #[argh(option, default = "1200")]
    latency_ms: u64,
    /// job times on the dev backend as on a hosted service: `hosted` (pictures 8 s / 20 s,
    /// video 60 s / 150 s, sound 3 s / 6 s, p50 / p95) or `hosted:SCALE` (hosted:0.1 is ten
    /// times faster); replaces --latency-ms there
    #[argh(option)]
    latency: Option<LatencyProfile>,
    /// where results are kept between runs
    #[argh(option)]
    cache_dir: Option<PathBuf>,
    /// keep results in memory only
    #[argh(switch)]
    no_disk_cache: bool,
    /// record every exchange with the backend into DIR, to be played again with --replay
    #[argh(option)]
    record: Option<PathBuf>,
    /// answer as the backend recorded into DIR did, with no backend and no network
    #[argh(option)]
    replay: Option<PathBuf>,
    /// play from the caches and pre-made files only (bake first: `cargo run --example bake`);
    /// nothing is generated and no backend is started or reached
    #[argh(switch)]
    offline: bool,
}

fn choices(text: &str) -> Result<VecDeque<usize>, String> {
    text.split(',')
        .map(|c| {
            c.trim()
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .ok_or(format!("{c:?} is not a choice number (1, 2, ...)"))
        })
        .collect()
}

/// Command-line options.
#[derive(Resource, Clone, Debug)]
pub struct Options {
    pub headless: bool,
    /// In a window, take the `--choices` path by itself (when the option was given).
    pub autoplay: bool,
    pub choices: VecDeque<usize>,
    pub latency: Duration,
    /// The dev backend's job times per kind (`--latency`), instead of `latency`.
    pub dev_latency: Option<LatencyProfile>,
    pub backend: Backend,
    pub token: Option<String>,
    pub scene: Option<String>,
    pub provider: Option<String>,
    pub cache_dir: Option<PathBuf>,
    pub disk_cache: bool,
    /// Record the backend's exchanges here (`--record`).
    pub record: Option<PathBuf>,
    /// Serve a recording instead of a backend (`--replay`).
    pub replay: Option<PathBuf>,
    /// Caches and pre-made files only (`--offline`).
    pub offline: bool,
}

/// `--latency` sets the dev backend's job times: refused with any other backend.
fn dev_only(latency: Option<&LatencyProfile>, backend: &Backend) -> Result<(), String> {
    if latency.is_some() && !matches!(backend, Backend::Dev | Backend::DevReal) {
        return Err("--latency sets the dev backend's job times; it needs --backend dev".into());
    }
    Ok(())
}

/// Reads the command line; exits with usage on `--help` or a bad option.
pub fn options() -> Result<Options, String> {
    let args: Args = argh::from_env();
    if args.replay.is_some() {
        if args.backend.is_some() || args.token.is_some() || args.scene.is_some() {
            return Err(
                "--replay serves a recording; it takes no --backend, --token or --scene".into(),
            );
        }
        if args.record.is_some() {
            return Err("--record and --replay do not go together".into());
        }
    }
    let backend = match args.backend.as_deref().unwrap_or("dev") {
        "local" => Backend::Local,
        "dev" => Backend::Dev,
        "dev-real" => Backend::DevReal,
        url => Backend::Remote(url.to_owned()),
    };
    if backend == Backend::Local && args.scene.is_some() {
        return Err(
            "--scene plays a backend's scene; it needs a backend, not --backend local".into(),
        );
    }
    if args.offline && (args.record.is_some() || args.replay.is_some()) {
        return Err("--offline reaches no backend: nothing to --record or --replay".into());
    }
    if args.offline && args.scene.is_some() {
        return Err("--scene fetches a backend's scene; it cannot be played --offline".into());
    }
    // Offline, nothing reaches a backend: the local chain, its generator skipped.
    let backend = if args.offline {
        Backend::Local
    } else {
        backend
    };
    if args.token.is_some() && !matches!(backend, Backend::Remote(_)) {
        return Err("--token goes with --backend URL".into());
    }
    dev_only(args.latency.as_ref(), &backend)?;
    if backend == Backend::Local && args.record.is_some() {
        return Err("--record records a backend; --backend local has none".into());
    }
    Ok(Options {
        headless: args.headless,
        autoplay: args.choices.is_some(),
        choices: args.choices.unwrap_or_else(|| VecDeque::from([1, 2, 1])),
        latency: Duration::from_millis(args.latency_ms),
        dev_latency: args.latency,
        backend,
        token: args.token,
        scene: args.scene,
        provider: args.provider,
        cache_dir: args.cache_dir,
        disk_cache: !args.no_disk_cache,
        record: args.record,
        replay: args.replay,
        offline: args.offline,
    })
}
