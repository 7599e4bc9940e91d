//! The command line, read with `argh`.

use std::path::PathBuf;

use argh::FromArgs;

/// Bakes a story's `once` media into pre-made files and manifest entries.
#[derive(FromArgs)]
pub struct Options {
    /// the story to bake (default: the bundled story, story/lighthouse.scene.json under the
    /// asset folder)
    #[argh(option)]
    pub scene_file: Option<PathBuf>,
    /// bake the backend's scene ID instead (needs --backend)
    #[argh(option)]
    pub scene: Option<String>,
    /// a JSON file of the other requests the game makes ({"requests": [{"name": ..., ...}]})
    #[argh(option)]
    pub requests: Option<PathBuf>,
    /// local (the embedded generator, the default unless PIXSIM_URL is set), dev (a
    /// loopback dev backend started here) or a backend's URL
    #[argh(option)]
    pub backend: Option<String>,
    /// the backend's bearer token (with --backend URL)
    #[argh(option)]
    pub token: Option<String>,
    /// the asset folder (default: assets)
    #[argh(option, default = "PathBuf::from(\"assets\")")]
    pub assets: PathBuf,
    /// the manifest, relative to the asset folder (default: premade/manifest.json)
    #[argh(
        option,
        default = "PathBuf::from(bevy_asset_provider::DEFAULT_MANIFEST)"
    )]
    pub manifest: PathBuf,
    /// where the files go, relative to the asset folder (default: premade/baked)
    #[argh(
        option,
        default = "PathBuf::from(bevy_asset_provider::bake::DEFAULT_BAKE_DIR)"
    )]
    pub out: PathBuf,
    /// the contact sheet PNG (default: target/bake-contact-sheet.png, outside the assets)
    #[argh(option, default = "PathBuf::from(\"target/bake-contact-sheet.png\")")]
    pub contact_sheet: PathBuf,
    /// the game's disk cache folder (default: the scene player's, so what it generated is reused)
    #[argh(option)]
    pub cache_dir: Option<PathBuf>,
    /// no disk cache
    #[argh(switch)]
    pub no_disk_cache: bool,
    /// list what would be made and how many generations that costs; make nothing
    #[argh(switch)]
    pub dry_run: bool,
}

/// Reads the command line; exits with usage on `--help` or a bad option.
pub fn options() -> Options {
    argh::from_env()
}
