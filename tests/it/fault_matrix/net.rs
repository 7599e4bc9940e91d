//! The network rows of the fault matrix, against a scripted server on 127.0.0.1.

use super::*;

/// The picture every scripted asset serves.
fn picture() -> Vec<u8> {
    png(6, 4, [10, 120, 200, 255])
}

/// The generation JSON the real service answers, named as the create asked (so the client
/// knows it for its own).
fn generation(status: &str, name: Option<&str>) -> Value {
    let mut value = json!({"id": 1, "status": status, "operation_type": "text_to_image",
        "name": name, "user": {"type": "user", "id": 1}});
    if status == "completed" {
        value["asset"] = json!({"type": "asset", "id": 1, "meta": null});
    }
    value
}

/// A create script that answers `status` with the create's own name.
fn create_answering(status: &'static str) -> Script {
    Arc::new(move |_, body| Reply::Json(StatusCode::CREATED, generation(status, name_of(body))))
}

fn name_of(body: &[u8]) -> Option<&str> {
    let start = std::str::from_utf8(body).ok()?;
    let at = start.find("\"name\":\"")? + 8;
    start[at..].split('"').next()
}

fn asset() -> Script {
    let bytes = picture();
    always(Reply::Json(
        StatusCode::OK,
        json!({"id": 1, "media_type": "image", "mime_type": "image/png", "file_url": "/file",
            "file_size_bytes": bytes.len(), "sha256": hex::encode(Sha256::digest(&bytes))}),
    ))
}

fn file() -> Reply {
    Reply::Raw(
        StatusCode::OK,
        vec![("content-type", "image/png".to_owned())],
        picture(),
    )
}

/// A backend whose create answers completed at once, and whose file is served as `file`.
fn completed_with(file: Script) -> Vec<(&'static str, Script)> {
    vec![
        ("POST /api/v1/generations", create_answering("completed")),
        ("GET /api/v1/assets/1", asset()),
        ("GET /file", file),
    ]
}

/// A client of `url` that polls and retries fast, with 3 tries per call.
fn fast(url: &str) -> PixSimSourceBuilder {
    PixSimSource::builder(url)
        .token("test-token")
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .retries(3, Duration::from_millis(10), Duration::from_millis(50))
        .request_timeout(Duration::from_millis(800))
}

fn net_app(source: PixSimSource) -> App {
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source)
            .with_default_timeout(Duration::from_secs(8)),
    );
    app.update();
    app
}

/// Requests an image and steps until its task ends; also checks the placeholder stays on
/// failure and that the end came within the request's deadline.
fn net_run(app: &mut App, request: AssetRequest) -> GenerationTask {
    let started = Instant::now();
    let entity = app.world_mut().spawn(request).id();
    update_until(app, "the task ends", |app| {
        task(app, entity).status().is_terminal()
    });
    let done = task(app, entity);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    if done.status() != TaskStatus::Completed {
        let handle = done.handle().image().unwrap();
        let size = app
            .world()
            .resource::<Assets<Image>>()
            .get(handle)
            .map(Image::size);
        assert_eq!(size, Some(UVec2::new(32, 18)), "the placeholder stays");
    }
    done
}

fn picture_request() -> AssetRequest {
    AssetRequest::image().scene("quay").prompt("the quay")
}

#[test]
fn net_connection_refused() {
    // Nothing listens on port 1 of the loopback.
    let mut app = net_app(fast("http://127.0.0.1:1").websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Failed);
    let error = done.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::Generation, "{error}");
    assert!(error.message().contains("could not connect"), "{error}");
    assert!(error.message().contains("after 3 tries"), "{error}");
}

#[test]
fn net_reset_mid_body_then_whole() {
    let server = hostile(
        completed_with(first_then(
            2,
            Reply::Reset(picture()[..10].to_vec()),
            file(),
        )),
        None,
    );
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert_eq!(server.calls("GET /file"), 3);
}

#[test]
fn net_reset_every_time() {
    let server = hostile(
        completed_with(always(Reply::Reset(picture()[..10].to_vec()))),
        None,
    );
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Failed);
    assert!(
        done.error().unwrap().message().contains("after 3 tries"),
        "{:?}",
        done.error()
    );
}

#[test]
fn net_accepts_and_never_answers() {
    let server = hostile(
        vec![("POST /api/v1/generations", always(Reply::Hang))],
        None,
    );
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request().max_wait(Duration::from_secs(6)));
    assert_eq!(done.status(), TaskStatus::Failed, "{:?}", done.error());
    assert!(
        done.error().unwrap().message().contains("timed out"),
        "{:?}",
        done.error()
    );
}

#[test]
fn net_server_error_storm() {
    let server = hostile(
        vec![(
            "POST /api/v1/generations",
            always(Reply::Json(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"code": "unavailable", "message": "try later"}),
            )),
        )],
        None,
    );
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Failed);
    let error = done.error().unwrap();
    assert!(
        error.message().contains("POST /api/v1/generations"),
        "{error}"
    );
    assert!(error.message().contains("try later"), "{error}");
    assert_eq!(server.calls("POST /api/v1/generations"), 3);
}

#[test]
fn net_rate_limited_without_retry_after() {
    let mut routes = completed_with(always(file()));
    routes[0].1 = {
        let create = create_answering("completed");
        Arc::new(move |call, body| {
            if call == 0 {
                Reply::Json(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"code": "http_429",
                        "message": "Rate limit exceeded. Try again in 1 seconds."}),
                )
            } else {
                create(call, body)
            }
        })
    };
    let server = hostile(routes, None);
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let started = Instant::now();
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the body's wait was kept"
    );
}

#[test]
fn net_malformed_json_once() {
    let mut routes = completed_with(always(file()));
    routes[0].1 = {
        let create = create_answering("completed");
        Arc::new(move |call, body| {
            if call == 0 {
                Reply::Raw(
                    StatusCode::CREATED,
                    vec![("content-type", "application/json".to_owned())],
                    b"{\"id\": 1, \"sta".to_vec(),
                )
            } else {
                create(call, body)
            }
        })
    };
    let server = hostile(routes, None);
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
}

#[test]
fn net_a_create_whose_answer_is_lost_is_found_and_not_paid_twice() {
    // The server makes the generation, then never answers; the account's list has it.
    let made: Arc<Mutex<Option<String>>> = Arc::default();
    let remember = made.clone();
    let listed = made.clone();
    let mut routes = completed_with(always(file()));
    routes[0].1 = Arc::new(move |_, body| {
        *remember.lock().unwrap() = name_of(body).map(str::to_owned);
        Reply::Hang
    });
    routes.push((
        "GET /api/v1/generations",
        Arc::new(move |_, _| {
            let name = listed.lock().unwrap().clone();
            let generations: Vec<Value> = name
                .iter()
                .map(|name| generation("completed", Some(name)))
                .collect();
            Reply::Json(
                StatusCode::OK,
                json!({"generations": generations, "total": 1}),
            )
        }),
    ));
    let server = hostile(routes, None);
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    // A per-player request asks for new work: sending it again would pay twice.
    let done = run(
        &mut app,
        picture_request().strategy(CachingStrategy::PerPlayer),
    );
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert_eq!(server.calls("POST /api/v1/generations"), 1);
    assert!(made.lock().unwrap().is_some());
}

fn stuck_at(status: &'static str) -> Vec<(&'static str, Script)> {
    vec![
        ("POST /api/v1/generations", create_answering("pending")),
        (
            "GET /api/v1/generations/1",
            always(Reply::Json(StatusCode::OK, generation(status, None))),
        ),
    ]
}

#[test]
fn net_unknown_status_strings() {
    let server = hostile(stuck_at("queued_at_provider"), None);
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request().max_wait(Duration::from_secs(1)));
    assert_eq!(done.status(), TaskStatus::TimedOut, "{:?}", done.error());
    assert!(server.calls("GET /api/v1/generations/1") >= 2);
}

#[test]
fn net_a_job_that_never_finishes() {
    let server = hostile(stuck_at("processing"), None);
    let mut app = net_app(fast(&server.url).websocket(false).build().unwrap());
    let done = net_run(&mut app, picture_request().max_wait(Duration::from_secs(1)));
    assert_eq!(done.status(), TaskStatus::TimedOut, "{:?}", done.error());
    assert_eq!(done.error().unwrap().kind(), AssetErrorKind::TimedOut);
}

/// A backend whose job completes a moment after it is created, known only by polling.
fn completes_after(delay: Duration) -> Vec<(&'static str, Script)> {
    let created = Arc::new(Mutex::new(None::<Instant>));
    let started = created.clone();
    vec![
        (
            "POST /api/v1/generations",
            Arc::new(move |_, body| {
                *started.lock().unwrap() = Some(Instant::now());
                Reply::Json(StatusCode::CREATED, generation("pending", name_of(body)))
            }),
        ),
        (
            "GET /api/v1/generations/1",
            Arc::new(move |_, _| {
                let done = created
                    .lock()
                    .unwrap()
                    .is_some_and(|at| at.elapsed() >= delay);
                let status = if done { "completed" } else { "processing" };
                Reply::Json(StatusCode::OK, generation(status, None))
            }),
        ),
        ("GET /api/v1/assets/1", asset()),
        ("GET /file", always(file())),
    ]
}

#[test]
fn net_a_silent_websocket_is_given_up_and_the_job_polled() {
    let server = hostile(
        completes_after(Duration::from_millis(300)),
        Some(Socket::Silent),
    );
    // A trusted socket means polling only every 30 s; a silent one must not be trusted for long.
    let source = fast(&server.url)
        .poll_interval(Duration::from_millis(50), Duration::from_secs(30))
        .socket_keep_alive(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut app = net_app(source);
    // Let the socket open first, so the job starts out trusting it.
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(200) {
        app.update();
    }
    let started = Instant::now();
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn net_a_websocket_sending_garbage() {
    let server = hostile(
        completes_after(Duration::from_millis(100)),
        Some(Socket::Garbage),
    );
    let mut app = net_app(fast(&server.url).build().unwrap());
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
}

#[test]
fn net_an_oversized_download() {
    let server = hostile(completed_with(always(file())), None);
    let source = fast(&server.url)
        .websocket(false)
        .max_download_bytes(16)
        .build()
        .unwrap();
    let mut app = net_app(source);
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Failed);
    let error = done.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::InvalidData, "{error}");
    assert!(error.message().contains("limit"), "{error}");
}

#[test]
fn net_secrets_in_urls_never_reach_errors_messages_or_logs() {
    capture_logs();
    const TOKEN: &str = "tok-SECRET-7431";
    const PASSWORD: &str = "pw-SECRET-9911";
    let mut routes = completed_with(always(file()));
    // The file lives on a host that cannot be reached, behind a token in its query.
    routes[1].1 = always(Reply::Json(
        StatusCode::OK,
        json!({"id": 1, "media_type": "image", "mime_type": "image/png",
            "file_url": format!("http://127.0.0.1:1/media/x.png?token={TOKEN}")}),
    ));
    let server = hostile(routes, Some(Socket::Garbage));
    let base = server
        .url
        .replace("http://", &format!("http://player:{PASSWORD}@"));
    let source = PixSimSource::builder(base)
        .token(TOKEN)
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .retries(2, Duration::from_millis(5), Duration::from_millis(10))
        .build()
        .unwrap();
    let mut app = net_app(source);
    collect::<AssetFailed>(&mut app);
    collect::<AnalyticsEvent>(&mut app);
    let done = net_run(&mut app, picture_request());
    assert_eq!(done.status(), TaskStatus::Failed);
    for _ in 0..3 {
        app.update();
    }
    let mut said = vec![format!("{:?}", done), done.error().unwrap().to_string()];
    said.extend(
        collected::<AssetFailed>(&app)
            .iter()
            .map(|m| format!("{m:?}")),
    );
    said.extend(
        collected::<AnalyticsEvent>(&app)
            .iter()
            .map(|m| format!("{m:?}")),
    );
    said.extend(LOGS.lock().unwrap().iter().map(|(_, line)| line.clone()));
    assert!(said.len() > 3, "{said:?}");
    for text in said {
        assert!(
            !text.contains(TOKEN) && !text.contains(PASSWORD),
            "a secret leaked: {text}"
        );
    }
    assert!(
        done.error().unwrap().message().contains("asset 1"),
        "the error still names what failed: {:?}",
        done.error()
    );
}

#[test]
fn net_absurd_settings_overflow_nothing() {
    let dev = pixsim_dev::DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(20))
        .spawn()
        .unwrap();
    // Every wait a game could set, as long as it can be: the socket still carries the job.
    let source = client(&dev)
        .retries(3, Duration::MAX, Duration::MAX)
        .poll_interval(Duration::MAX, Duration::MAX)
        .retry_grace(Duration::MAX)
        .request_timeout(Duration::MAX)
        .connect_timeout(Duration::MAX)
        .max_server_wait(Duration::MAX)
        .socket_keep_alive(Duration::MAX)
        .build()
        .unwrap();
    let mut app = net_app(source);
    let done = net_run(&mut app, picture_request().max_wait(Duration::MAX));
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
}
