//! Bakes a story's `once` media into pre-made files, so the game ships them and plays offline.
//!
//! ```sh
//! cargo run --example bake                                   # the bundled story, embedded generator
//! cargo run --example bake -- --dry-run                      # what would be made, and what it costs
//! cargo run --example bake -- --backend dev                  # through a loopback dev backend
//! cargo run --example bake -- --backend URL --token T        # through a real PixSim7
//! cargo run --example bake -- --scene-file my.scene.json --requests bake.json --out premade/baked
//! ```
//!
//! Every node and choice reachable from the story's start is walked, and each `once` request is
//! resolved through the same chain the game uses (the pre-made manifest aside, which the bake
//! reads itself): a backend when `--backend` (or `PIXSIM_URL`) names one, else the embedded
//! generator; the game's disk cache first, so what was generated while playing is not paid for
//! again. Files go to `assets/premade/baked/`, entries to `assets/premade/manifest.json`; a
//! second run makes nothing that is baked and unchanged. The contact sheet's path is printed at
//! the end. Then `cargo run --example scene_player -- --offline` plays the story from them.

mod cli;
mod progress;
mod sources;

use std::process::ExitCode;

use bevy_asset_provider::bake::{Bake, BakeTargets, ListedRequests};

fn main() -> ExitCode {
    let options = cli::options();
    match bake(&options) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("bake: {message}");
            ExitCode::from(1)
        }
    }
}

fn bake(options: &cli::Options) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|error| format!("could not start a runtime: {error}"))?;
    let chain = sources::chain(options)?;
    let graph = runtime.block_on(sources::story(options, &chain))?;
    let mut targets = BakeTargets::new().with_scene(&graph);
    if let Some(path) = &options.requests {
        targets = targets.with_listed(&ListedRequests::read(path).map_err(|e| e.to_string())?);
    }
    let mut bake = Bake::new(&chain.plugin)
        .asset_root(&options.assets)
        .manifest(&options.manifest)
        .out_dir(&options.out);
    if !options.dry_run {
        bake = bake.contact_sheet(&options.contact_sheet);
    }
    println!(
        "baking {:?} ({} requests) with {} into {}",
        graph.id,
        targets.len(),
        chain.description,
        options.assets.join(&options.out).display()
    );
    let bars = progress::Bars::new();
    let plan = bake
        .plan(&targets, &|event| bars.show(event))
        .map_err(|error| error.to_string())?;
    if options.dry_run {
        println!("{plan}");
        return Ok(ExitCode::SUCCESS);
    }
    let report = runtime
        .block_on(bake.run(&plan, &|event| bars.show(event)))
        .map_err(|error| error.to_string())?;
    bars.clear();
    println!("{report}");
    Ok(if report.failed() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
