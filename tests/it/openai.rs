//! The OpenAI-compatible images adapter against its loopback fake: direct answers and jobs to
//! poll, base64 and URL results, what is retried and what is final, waits, timeouts and the
//! concurrency limit, and a token that never shows.

use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy_asset_provider::AssetErrorKind;
use bevy_asset_provider::net::NetPolicy;
use bevy_asset_provider::openai::{OpenAiImages, OpenAiImagesBuilder, ResponseFormat};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
use bevy_asset_provider::source::{AssetSource, SourceRequest, SourcedMedia};
use pixsim_dev::openai::{Answering, FakeImages, Fault, Route};

use crate::common::{headless_app, task, until_status};

const TOKEN: &str = "sk-test-TOPSECRET-1";

/// A fast policy: short backoff, short polls.
fn policy() -> NetPolicy {
    NetPolicy::new()
        .max_attempts(4)
        .backoff(Duration::from_millis(1), Duration::from_millis(20))
        .max_retry_after(Duration::from_secs(5))
        .attempt_timeout(Duration::from_secs(10))
}

fn images(fake: &FakeImages) -> OpenAiImagesBuilder {
    OpenAiImages::builder(fake.base_url())
        .token(TOKEN)
        .model("fake-image-1")
        .size("256x256")
        .policy(policy())
        .poll_interval(Duration::from_millis(1), Duration::from_millis(5))
}

fn fake() -> pixsim_dev::openai::FakeImagesBuilder {
    FakeImages::builder().token(TOKEN)
}

fn ask(prompt: &str) -> SourceRequest {
    ask_as(
        AssetRequest::image().prompt(prompt),
        PlaySession::new("run-1", "player-1"),
    )
}

fn ask_as(request: AssetRequest, session: PlaySession) -> SourceRequest {
    SourceRequest::new(request.fingerprint(&session), request, session)
}

async fn resolve(
    source: &OpenAiImages,
    request: &SourceRequest,
) -> Result<SourcedMedia, AssetError> {
    source
        .resolve(request)
        .await
        .map(|media| media.expect("the source served the request"))
}

fn is_png(media: &SourcedMedia) -> bool {
    media.mime == "image/png" && media.bytes.starts_with(b"\x89PNG\r\n\x1a\n")
}

#[tokio::test]
async fn a_direct_answer_in_base64_is_an_image() {
    let fake = fake().spawn().unwrap();
    let source = images(&fake).build().unwrap();
    let media = resolve(&source, &ask("a lighthouse at dusk"))
        .await
        .unwrap();
    assert!(is_png(&media), "{media:?}");
    let sent = fake.last_create().unwrap();
    assert_eq!(sent["model"], "fake-image-1");
    assert_eq!(sent["prompt"], "a lighthouse at dusk");
    assert_eq!(sent["n"], 1);
    assert_eq!(sent["size"], "256x256");
    // Not configured: not sent (gpt-image models refuse it).
    assert!(sent.get("response_format").is_none(), "{sent}");
    // `once` is shared by everyone: no scope goes to the server.
    assert!(sent.get("user").is_none(), "{sent}");
    assert_eq!(fake.stats().creates, 1);
    assert_eq!(fake.stats().polls, 0);
}

#[tokio::test]
async fn a_job_is_polled_and_its_url_fetched_without_the_token() {
    let fake = fake()
        .answering(Answering::Job { polls: 3 })
        .files_on_another_origin(true)
        .spawn()
        .unwrap();
    let source = images(&fake)
        .response_format(ResponseFormat::Url)
        .build()
        .unwrap();
    let media = resolve(&source, &ask("a harbour bell")).await.unwrap();
    assert!(is_png(&media), "{media:?}");
    assert_eq!(media.generation_id.as_deref(), Some("img_0001"));
    let stats = fake.stats();
    assert_eq!((stats.creates, stats.polls, stats.files), (1, 3, 1));
    assert!(!stats.file_saw_credentials, "the CDN saw the token");
    assert_eq!(fake.last_create().unwrap()["response_format"], "url");
}

#[tokio::test]
async fn a_job_answered_in_base64_and_a_direct_url_work_too() {
    let job = fake()
        .answering(Answering::Job { polls: 1 })
        .spawn()
        .unwrap();
    let media = resolve(&images(&job).build().unwrap(), &ask("b64 job"))
        .await
        .unwrap();
    assert!(is_png(&media));
    let direct = fake().spawn().unwrap();
    let source = images(&direct)
        .response_format(ResponseFormat::Url)
        .build()
        .unwrap();
    let media = resolve(&source, &ask("direct url")).await.unwrap();
    assert!(is_png(&media));
    // Same origin: the server's own files may see the token.
    assert_eq!(direct.stats().files, 1);
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_servers_wait() {
    let fake = fake()
        .fault(
            Route::Create,
            Fault::RateLimited {
                retry_after: Some("1".into()),
            },
        )
        .spawn()
        .unwrap();
    let source = images(&fake).build().unwrap();
    let start = Instant::now();
    resolve(&source, &ask("slow down")).await.unwrap();
    let waited = start.elapsed();
    assert_eq!(fake.stats().creates, 2);
    // The backoff alone is at most 20 ms: the second try waited for Retry-After.
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
}

#[tokio::test]
async fn retry_after_dates_are_read_and_long_waits_capped() {
    let in_two_seconds =
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    let fake = fake()
        .fault(
            Route::Create,
            Fault::RateLimited {
                retry_after: Some(in_two_seconds),
            },
        )
        .fault(
            Route::Create,
            Fault::RateLimited {
                retry_after: Some("3600".into()),
            },
        )
        .spawn()
        .unwrap();
    let source = images(&fake)
        .policy(policy().max_retry_after(Duration::from_millis(1500)))
        .build()
        .unwrap();
    let start = Instant::now();
    resolve(&source, &ask("dated")).await.unwrap();
    let waited = start.elapsed();
    assert_eq!(fake.stats().creates, 3);
    // Up to 2 s for the date (at least 1 s given its whole-second precision), then the
    // hour-long wait capped at 1.5 s.
    assert!(waited >= Duration::from_millis(2400), "{waited:?}");
    assert!(waited < Duration::from_secs(30), "{waited:?}");
}

#[tokio::test]
async fn server_errors_are_retried_on_polls_and_downloads() {
    let fake = fake()
        .answering(Answering::Job { polls: 1 })
        .fault(Route::Poll, Fault::Status(502))
        .fault(Route::Poll, Fault::Garbage)
        .fault(Route::File, Fault::Status(500))
        .spawn()
        .unwrap();
    let source = images(&fake)
        .response_format(ResponseFormat::Url)
        .build()
        .unwrap();
    let media = resolve(&source, &ask("flaky")).await.unwrap();
    assert!(is_png(&media));
    let stats = fake.stats();
    assert_eq!((stats.creates, stats.polls, stats.files), (1, 3, 2));
}

#[tokio::test]
async fn exhausted_retries_fail_with_the_count() {
    let mut builder = fake();
    for _ in 0..4 {
        builder = builder.fault(Route::Create, Fault::RateLimited { retry_after: None });
    }
    let fake = builder.spawn().unwrap();
    let error = resolve(&images(&fake).build().unwrap(), &ask("down"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::Generation);
    assert!(error.message().contains("429"), "{error}");
    assert!(error.message().contains("after 4 tries"), "{error}");
    assert_eq!(fake.stats().creates, 4);
}

#[tokio::test]
async fn client_errors_are_typed_and_not_retried() {
    let fake = fake()
        .fault(Route::Create, Fault::Status(400))
        .fault(Route::Create, Fault::Refused)
        .fault(Route::Create, Fault::Status(404))
        .fault(Route::Create, Fault::Status(422))
        .spawn()
        .unwrap();
    let source = images(&fake).build().unwrap();
    for (expected, creates) in [
        (AssetErrorKind::InvalidData, 1),
        (AssetErrorKind::Rejected, 2),
        (AssetErrorKind::NotFound, 3),
        (AssetErrorKind::InvalidData, 4),
    ] {
        let error = resolve(&source, &ask("nope")).await.unwrap_err();
        assert_eq!(error.kind(), expected, "{error}");
        assert!(
            error.message().contains("POST /v1/images/generations"),
            "{error}"
        );
        assert_eq!(fake.stats().creates, creates, "retried: {error}");
    }
}

#[tokio::test]
async fn a_failed_job_is_typed_and_an_unknown_job_is_not_found() {
    let refused = fake()
        .answering(Answering::Job { polls: 2 })
        .fail_jobs("content_policy_violation", "the prompt was refused")
        .spawn()
        .unwrap();
    let error = resolve(&images(&refused).build().unwrap(), &ask("forbidden"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::Rejected);
    assert!(
        error.message().contains("the prompt was refused"),
        "{error}"
    );

    let lost = fake()
        .answering(Answering::Job { polls: 2 })
        .fault(Route::Poll, Fault::Status(404))
        .spawn()
        .unwrap();
    let error = resolve(&images(&lost).build().unwrap(), &ask("lost"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::NotFound);
    assert_eq!(lost.stats().polls, 1);
}

#[tokio::test]
async fn a_garbled_create_is_never_sent_twice() {
    let fake = fake().fault(Route::Create, Fault::Garbage).spawn().unwrap();
    let error = resolve(&images(&fake).build().unwrap(), &ask("paid once"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::InvalidData);
    // The image may have been made and paid for: not asked again.
    assert_eq!(fake.stats().creates, 1);
}

#[tokio::test]
async fn the_token_never_shows() {
    let fake = fake().spawn().unwrap();
    // The fake quotes a wrong key back in its 401, as some servers do.
    let wrong = "sk-wrong-SECRET-2";
    let source = images(&fake).token(wrong).build().unwrap();
    let error = resolve(&source, &ask("who am i")).await.unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(
        text.contains("401") && text.contains("check the backend token"),
        "{text}"
    );
    assert!(!text.contains(wrong), "{text}");
    assert_eq!(fake.stats().creates, 1, "a refused token is not retried");

    let builder = images(&fake);
    let source = builder.clone().build().unwrap();
    let shown = format!(
        "{builder:?} {source:?} {:?} {:?}",
        source.client(),
        source.client().policy()
    );
    assert!(!shown.contains(TOKEN), "{shown}");

    // Nothing listens here; the URL carries credentials of its own.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let source = OpenAiImages::builder(format!(
        "http://user:pw-SECRET-3@127.0.0.1:{port}/?api_key=SECRET-4"
    ))
    .token(TOKEN)
    .policy(policy().max_attempts(2))
    .build()
    .unwrap();
    let error = resolve(&source, &ask("unreachable")).await.unwrap_err();
    let text = format!("{error} {error:?} {} {source:?}", source.name());
    for secret in [TOKEN, "SECRET-3", "SECRET-4"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("could not connect"), "{text}");
}

#[tokio::test]
async fn the_overall_timeout_ends_a_hanging_call() {
    let fake = fake().fault(Route::Create, Fault::Hang).spawn().unwrap();
    let source = images(&fake)
        .policy(policy().overall_timeout(Duration::from_millis(300)))
        .build()
        .unwrap();
    let start = Instant::now();
    let error = resolve(&source, &ask("hang")).await.unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::TimedOut, "{error}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_hanging_poll_times_out_and_is_retried() {
    let fake = fake()
        .answering(Answering::Job { polls: 1 })
        .fault(Route::Poll, Fault::Hang)
        .spawn()
        .unwrap();
    let source = images(&fake)
        .policy(policy().attempt_timeout(Duration::from_millis(200)))
        .build()
        .unwrap();
    let media = resolve(&source, &ask("patience")).await.unwrap();
    assert!(is_png(&media));
    assert_eq!(fake.stats().polls, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_holds_across_requests() {
    let fake = fake()
        .create_delay(Duration::from_millis(50))
        .spawn()
        .unwrap();
    let source = images(&fake)
        .policy(policy().max_concurrent(1))
        .build()
        .unwrap();
    let mut jobs = Vec::new();
    for n in 0..4 {
        let source = source.clone();
        jobs.push(tokio::spawn(async move {
            resolve(&source, &ask(&format!("picture {n}"))).await
        }));
    }
    for job in jobs {
        assert!(is_png(&job.await.unwrap().unwrap()));
    }
    let stats = fake.stats();
    assert_eq!((stats.creates, stats.max_concurrent_creates), (4, 1));
}

#[tokio::test]
async fn scopes_reach_the_server_apart_and_unservable_requests_pass() {
    let fake = fake().spawn().unwrap();
    let source = images(&fake).build().unwrap();
    let mut users = Vec::new();
    for player in ["alice", "bob"] {
        let request = AssetRequest::image()
            .prompt("the same portrait")
            .strategy(CachingStrategy::PerPlayer);
        resolve(&source, &ask_as(request, PlaySession::new("run-1", player)))
            .await
            .unwrap();
        let user = fake.last_create().unwrap()["user"].clone();
        assert!(
            user.is_string() && !user.to_string().contains(player),
            "{user}"
        );
        users.push(user);
    }
    assert_ne!(users[0], users[1]);

    let creates = fake.stats().creates;
    let audio = ask_as(
        AssetRequest::audio().prompt("a bell"),
        PlaySession::default(),
    );
    assert!(source.resolve(&audio).await.unwrap().is_none());
    let no_prompt = ask_as(AssetRequest::image().scene("park"), PlaySession::default());
    assert!(source.resolve(&no_prompt).await.unwrap().is_none());
    assert!(!source.handles(MediaKind::Audio));
    assert_eq!(fake.stats().creates, creates);
}

#[test]
fn the_plugin_swaps_the_real_image_in() {
    let fake = fake()
        .answering(Answering::Job { polls: 2 })
        .spawn()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(images(&fake).build().unwrap())
            .with_default_timeout(Duration::from_secs(10)),
    );
    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("a quiet park"))
        .id();
    until_status(&mut app, entity, TaskStatus::Completed);
    let task = task(&app, entity);
    assert_eq!(task.source(), Some(SourceKind::Generated));
    let handle = task.handle().image().expect("an image handle").clone();
    let image = app
        .world()
        .resource::<Assets<Image>>()
        .get(&handle)
        .unwrap();
    assert_eq!(image.size(), UVec2::new(16, 16));
}

#[tokio::test]
async fn a_create_that_may_have_made_an_image_is_never_sent_again() {
    let fake = fake()
        .fault(Route::Create, Fault::Status(504))
        .spawn()
        .unwrap();
    let outcome = resolve(&images(&fake).build().unwrap(), &ask("paid once")).await;
    // A gateway's 504 may come after the image was made and paid for.
    assert_eq!(fake.stats().creates, 1, "the create was sent again");
    let error = outcome.expect_err("the 504 is final");
    assert_eq!(error.kind(), AssetErrorKind::Generation);
    assert!(
        error.message().contains("POST /v1/images/generations")
            && error.message().contains("504")
            && !error.message().contains("tries"),
        "{error}"
    );
    // A refused connection reached nothing: that is tried again.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let source = OpenAiImages::builder(format!("http://127.0.0.1:{port}"))
        .policy(policy().max_attempts(2))
        .build()
        .unwrap();
    let error = resolve(&source, &ask("nobody home")).await.unwrap_err();
    assert!(error.message().contains("after 2 tries"), "{error}");
}

#[tokio::test]
async fn response_format_is_sent_only_when_the_game_sets_it() {
    let fake = fake().spawn().unwrap();
    let media = resolve(
        &images(&fake).build().unwrap(),
        &ask("a gpt-image portrait"),
    )
    .await
    .unwrap();
    assert!(is_png(&media));
    let sent = fake.last_create().unwrap();
    // gpt-image models refuse the field with 400 `unknown_parameter`.
    assert!(sent.get("response_format").is_none(), "{sent}");
    for (format, wire) in [
        (ResponseFormat::B64Json, "b64_json"),
        (ResponseFormat::Url, "url"),
    ] {
        let source = images(&fake).response_format(format).build().unwrap();
        let media = resolve(&source, &ask(&format!("as {wire}"))).await.unwrap();
        assert!(is_png(&media));
        assert_eq!(fake.last_create().unwrap()["response_format"], wire);
    }
}

#[tokio::test]
async fn scope_tags_are_salted_per_game() {
    let first = fake().spawn().unwrap();
    let second = fake().spawn().unwrap();
    let user = async |builder: OpenAiImagesBuilder, fake: &FakeImages| {
        let request = AssetRequest::image()
            .prompt("the same portrait")
            .strategy(CachingStrategy::PerPlayer);
        resolve(
            &builder.build().unwrap(),
            &ask_as(request, PlaySession::new("run-1", "alice")),
        )
        .await
        .unwrap();
        fake.last_create().unwrap()["user"].clone()
    };
    // Two games (here: two servers, which the default salt tells apart) see one player
    // differently.
    let a = user(images(&first), &first).await;
    let b = user(images(&second), &second).await;
    assert!(a.is_string(), "{a}");
    assert_ne!(a, b, "one player has the same `user` everywhere");
    // A salt the game sets is the whole salt: the same salt, the same tag; another, another.
    let salted = |fake: &FakeImages, salt: &str| images(fake).scope_salt(salt);
    let a1 = user(salted(&first, "game-one"), &first).await;
    let a2 = user(salted(&second, "game-one"), &second).await;
    let b1 = user(salted(&first, "game-two"), &first).await;
    assert_eq!(a1, a2);
    assert_ne!(a1, b1);
    assert_ne!(a1, a);
}

#[test]
fn offline_never_calls_the_images_server() {
    let fake = fake().spawn().unwrap();
    let source = images(&fake).build().unwrap();
    assert!(
        source.uses_network(),
        "the images source says it needs no network"
    );
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_offline(true)
            .with_source(source),
    );
    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("offline portrait"))
        .id();
    crate::common::update_until(&mut app, "the request ends", |app| {
        task(app, entity).status().is_terminal()
    });
    assert_eq!(task(&app, entity).status(), TaskStatus::Failed);
    assert_eq!(
        fake.stats(),
        Default::default(),
        "offline reached the server"
    );
}

#[tokio::test]
async fn a_failed_jobs_words_are_cut_and_scrubbed() {
    let words = format!(
        "upstream said: Incorrect API key provided: {TOKEN}; {}",
        "blah ".repeat(400_000)
    );
    let fake = fake()
        .answering(Answering::Job { polls: 1 })
        .fail_jobs("server_error", words)
        .spawn()
        .unwrap();
    let error = resolve(&images(&fake).build().unwrap(), &ask("chatty"))
        .await
        .unwrap_err();
    let message = error.message();
    assert!(
        message.len() < 2_000,
        "the error holds {} bytes",
        message.len()
    );
    assert!(!message.contains(TOKEN), "{message}");
    assert!(
        message.contains("upstream said") && message.contains("cut"),
        "{message}"
    );
}
