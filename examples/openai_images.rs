//! Images from an OpenAI-compatible endpoint (`POST /v1/images/generations`), through the
//! crate's network policy: retries, `Retry-After`, timeouts and a concurrency limit.
//!
//! ```sh
//! cargo run --example openai_images                  # against a loopback fake, headless
//! cargo run --example openai_images -- --jobs --url-results --faults
//! OPENAI_API_KEY=sk-… cargo run --example openai_images -- --url https://api.openai.com \
//!     --model gpt-image-1 --prompt "a lighthouse at dusk, watercolour"
//! ```
//!
//! By default it starts a fake of the API on 127.0.0.1 (from `pixsim_dev`), asks for a few
//! images as a game would, and prints each result as it is swapped in behind its handle.
//! `--jobs` makes the fake answer as a job to poll, `--url-results` asks for URLs instead of
//! base64 (without it `response_format` is not sent, as gpt-image models want), `--faults` has
//! it refuse the first two creates with 429s (the first with `Retry-After: 1`), which the
//! policy waits out and retries. (A create answered with a 5xx is not sent again: the image
//! may have been made and paid for.)

use std::time::Duration;

use argh::FromArgs;
use bevy::app::{AppExit, ScheduleRunnerPlugin};
use bevy::prelude::*;
use bevy_asset_provider::net::NetPolicy;
use bevy_asset_provider::openai::{OpenAiImages, ResponseFormat};
use bevy_asset_provider::prelude::*;
use pixsim_dev::openai::{Answering, FakeImages, Fault, Route};

/// Images from an OpenAI-compatible endpoint.
#[derive(FromArgs)]
struct Cli {
    /// a real server's base URL (`https://api.openai.com`); the token comes from
    /// OPENAI_API_KEY. Without it a loopback fake is started.
    #[argh(option)]
    url: Option<String>,
    /// the model (default gpt-image-1)
    #[argh(option, default = "String::from(\"gpt-image-1\")")]
    model: String,
    /// the image size (default 1024x1024)
    #[argh(option, default = "String::from(\"1024x1024\")")]
    size: String,
    /// a prompt; repeat for more images (default: three of the bundled story's)
    #[argh(option)]
    prompt: Vec<String>,
    /// the fake answers with jobs to poll
    #[argh(switch)]
    jobs: bool,
    /// ask for URLs instead of base64
    #[argh(switch)]
    url_results: bool,
    /// the fake answers 429 (Retry-After: 1) and then 429 again before it serves
    #[argh(switch)]
    faults: bool,
}

/// The fake, alive as long as the app.
#[derive(Resource)]
struct Fake(#[allow(dead_code)] Option<FakeImages>);

/// Requests still waiting.
#[derive(Resource)]
struct Waiting(usize);

fn main() -> AppExit {
    let cli: Cli = argh::from_env();
    let (fake, builder) = match &cli.url {
        Some(url) => (
            None,
            OpenAiImages::builder(url).token_from_env("OPENAI_API_KEY"),
        ),
        None => {
            let mut fake = FakeImages::builder().token("sk-example");
            if cli.jobs {
                fake = fake.answering(Answering::Job { polls: 3 });
            }
            if cli.faults {
                fake = fake
                    .fault(
                        Route::Create,
                        Fault::RateLimited {
                            retry_after: Some("1".into()),
                        },
                    )
                    .fault(Route::Create, Fault::RateLimited { retry_after: None });
            }
            let fake = match fake.spawn() {
                Ok(fake) => fake,
                Err(error) => {
                    eprintln!("could not start the fake images API: {error}");
                    return AppExit::from_code(1);
                }
            };
            let builder = OpenAiImages::builder(fake.base_url())
                .token("sk-example")
                .poll_interval(Duration::from_millis(50), Duration::from_millis(400));
            (Some(fake), builder)
        }
    };
    let mut builder = builder.model(&cli.model).size(&cli.size);
    if cli.url_results {
        builder = builder.response_format(ResponseFormat::Url);
    }
    let images = builder
        .policy(
            NetPolicy::new()
                .max_attempts(4)
                .backoff(Duration::from_millis(200), Duration::from_secs(5))
                .max_retry_after(Duration::from_secs(30))
                .attempt_timeout(Duration::from_secs(120))
                .max_concurrent(2),
        )
        .build();
    let images = match images {
        Ok(images) => images,
        Err(error) => {
            eprintln!("{error}");
            return AppExit::from_code(1);
        }
    };
    println!("source: {images:?}");
    let prompts = if cli.prompt.is_empty() {
        vec![
            "a lighthouse on a cliff at dusk".to_owned(),
            "a harbour bell under rain".to_owned(),
            "a keeper's lamp on a wooden table".to_owned(),
        ]
    } else {
        cli.prompt
    };
    App::new()
        .add_plugins((
            MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_millis(5))),
            AssetPlugin::default(),
        ))
        .init_asset::<Image>()
        .add_plugins(AssetProviderPlugins::from(
            AssetProviderPlugin::new()
                .without_disk_cache()
                .with_source(images)
                .with_default_timeout(Duration::from_secs(300)),
        ))
        .insert_resource(Fake(fake))
        .insert_resource(Waiting(prompts.len()))
        .add_systems(Startup, move |mut commands: Commands| {
            for prompt in &prompts {
                commands.spawn(AssetRequest::image().prompt(prompt.clone()));
            }
        })
        .add_systems(Update, report)
        .run()
}

/// Prints each result and stops once every request has ended.
fn report(
    mut ready: MessageReader<AssetReady>,
    mut failed: MessageReader<AssetFailed>,
    images: Res<Assets<Image>>,
    mut waiting: ResMut<Waiting>,
    mut exit: MessageWriter<AppExit>,
) {
    for message in ready.read() {
        let size = message
            .handle
            .image()
            .and_then(|handle| images.get(handle))
            .map(|image| image.size());
        println!(
            "ready in {:?} from {}: {size:?} pixels",
            message.elapsed, message.origin
        );
        waiting.0 = waiting.0.saturating_sub(1);
    }
    for message in failed.read() {
        println!("failed ({}): {}", message.status.as_str(), message.error);
        waiting.0 = waiting.0.saturating_sub(1);
    }
    if waiting.0 == 0 {
        exit.write(AppExit::Success);
    }
}
