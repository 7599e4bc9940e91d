//! A loopback fake of the OpenAI-compatible images API (`POST /v1/images/generations`), for
//! the library's tests and its `openai_images` example. It answers directly or as a job to
//! poll, returns base64 or URLs as each create asks, and can inject 429s with `Retry-After`,
//! 5xx, 4xx, refused prompts, garbage and answers that never come.
//!
//! ```no_run
//! use pixsim_dev::openai::{Answering, Fault, FakeImages, Route};
//!
//! let fake = FakeImages::builder()
//!     .token("sk-test")
//!     .answering(Answering::Job { polls: 2 })
//!     .fault(Route::Create, Fault::RateLimited { retry_after: Some("1".into()) })
//!     .spawn()
//!     .expect("a loopback port");
//! println!("serving on {}", fake.base_url());
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

/// How creates are answered when no fault is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answering {
    /// `{"created", "data": [...]}` at once, as OpenAI does.
    Direct,
    /// `{"id", "status": "queued"}`, then `in_progress` for `polls - 1` polls, then `completed`
    /// with `data`.
    Job {
        /// Polls until the job is done (at least 1).
        polls: u32,
    },
}

/// Which endpoint a fault is injected into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /v1/images/generations`.
    Create,
    /// `GET /v1/images/generations/{id}`.
    Poll,
    /// `GET /files/{name}`, where URL results point.
    File,
}

/// One injected misbehaviour, used by the next call of its route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 with this `Retry-After` (delay-seconds or an HTTP-date), or none.
    RateLimited {
        /// The header's value.
        retry_after: Option<String>,
    },
    /// This status with an OpenAI-style error body.
    Status(u16),
    /// 400 `content_policy_violation`.
    Refused,
    /// 200 with a body that is not JSON (nor an image).
    Garbage,
    /// Never answers.
    Hang,
}

/// What the fake has seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeStats {
    /// Creates received (faulted ones included).
    pub creates: usize,
    /// Polls received.
    pub polls: usize,
    /// File downloads received.
    pub files: usize,
    /// The most creates answered at once.
    pub max_concurrent_creates: usize,
    /// Whether any file download carried an `Authorization` header.
    pub file_saw_credentials: bool,
}

/// Builds a [`FakeImages`].
#[derive(Clone, Debug)]
#[must_use]
pub struct FakeImagesBuilder {
    token: Option<String>,
    answering: Answering,
    faults: Vec<(Route, Fault)>,
    create_delay: Duration,
    files_elsewhere: bool,
    fail_jobs: Option<(String, String)>,
    image_side: u32,
}

impl FakeImagesBuilder {
    /// Requires `Authorization: Bearer <token>` on creates and polls; a wrong one gets a 401
    /// that, as some servers do, quotes the key it was given.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Direct answers or jobs (default direct).
    pub fn answering(mut self, answering: Answering) -> Self {
        self.answering = answering;
        self
    }

    /// Queues `fault` for the next call of `route` not yet faulted.
    pub fn fault(mut self, route: Route, fault: Fault) -> Self {
        self.faults.push((route, fault));
        self
    }

    /// Holds every create this long before answering, as a slow generator does.
    pub fn create_delay(mut self, delay: Duration) -> Self {
        self.create_delay = delay;
        self
    }

    /// Serves URL results from a second port, another origin, as a CDN would.
    pub fn files_on_another_origin(mut self, enabled: bool) -> Self {
        self.files_elsewhere = enabled;
        self
    }

    /// Jobs end `failed` with this code and message.
    pub fn fail_jobs(mut self, code: impl Into<String>, message: impl Into<String>) -> Self {
        self.fail_jobs = Some((code.into(), message.into()));
        self
    }

    /// Starts the fake on 127.0.0.1 on a free port.
    pub fn spawn(self) -> std::io::Result<FakeImages> {
        FakeImages::start(self)
    }
}

#[derive(Default)]
struct Data {
    stats: FakeStats,
    in_flight: usize,
    faults: HashMap<Route, VecDeque<Fault>>,
    /// Job id → polls so far, and the create's body.
    jobs: HashMap<String, (u32, Value)>,
    next_id: u64,
    last_create: Option<Value>,
}

struct Shared {
    config: FakeImagesBuilder,
    file_base: String,
    data: Mutex<Data>,
}

impl Shared {
    fn data(&self) -> MutexGuard<'_, Data> {
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn next_fault(&self, route: Route) -> Option<Fault> {
        self.data().faults.get_mut(&route)?.pop_front()
    }

    /// The refusal of a call without the token, if it is one.
    fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        let token = self.config.token.as_ref()?;
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        (given != token).then(|| {
            error(
                StatusCode::UNAUTHORIZED,
                &format!("Incorrect API key provided: {given}"),
                "invalid_api_key",
            )
        })
    }
}

/// A running fake. Dropping it (or [`stop`](Self::stop)) stops it.
pub struct FakeImages {
    base_url: String,
    shared: Arc<Shared>,
    shutdown: Vec<oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeImages {
    /// A builder: direct answers, no token, no faults.
    pub fn builder() -> FakeImagesBuilder {
        FakeImagesBuilder {
            token: None,
            answering: Answering::Direct,
            faults: Vec::new(),
            create_delay: Duration::ZERO,
            files_elsewhere: false,
            fail_jobs: None,
            image_side: 16,
        }
    }

    /// Where it serves (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// What it has seen so far.
    pub fn stats(&self) -> FakeStats {
        self.shared.data().stats.clone()
    }

    /// The body of the last create, as received.
    pub fn last_create(&self) -> Option<Value> {
        self.shared.data().last_create.clone()
    }

    /// Queues `fault` for the next call of `route` while it runs.
    pub fn inject(&self, route: Route, fault: Fault) {
        self.shared
            .data()
            .faults
            .entry(route)
            .or_default()
            .push_back(fault);
    }

    /// Stops serving; hanging calls are dropped.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        for shutdown in self.shutdown.drain(..) {
            let _ = shutdown.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    fn start(config: FakeImagesBuilder) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fake-images")
            .enable_all()
            .build()?;
        let bind = || -> std::io::Result<(tokio::net::TcpListener, String)> {
            let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
            listener.set_nonblocking(true)?;
            let url = format!("http://{}", listener.local_addr()?);
            let _enter = runtime.enter();
            Ok((tokio::net::TcpListener::from_std(listener)?, url))
        };
        let (listener, base_url) = bind()?;
        let files = if config.files_elsewhere {
            Some(bind()?)
        } else {
            None
        };
        let file_base = files
            .as_ref()
            .map_or_else(|| base_url.clone(), |(_, url)| url.clone());
        let mut data = Data::default();
        for (route, fault) in &config.faults {
            data.faults
                .entry(*route)
                .or_default()
                .push_back(fault.clone());
        }
        let shared = Arc::new(Shared {
            config,
            file_base,
            data: Mutex::new(data),
        });
        let app = Router::new()
            .route("/v1/images/generations", post(create))
            .route("/v1/images/generations/{id}", get(poll))
            .route("/files/{name}", get(file))
            .with_state(shared.clone());
        let mut shutdown = Vec::new();
        for listener in std::iter::once(listener).chain(files.map(|(listener, _)| listener)) {
            let (stop_tx, stop) = oneshot::channel::<()>();
            shutdown.push(stop_tx);
            let app = app.clone();
            runtime.spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop.await;
                    })
                    .await;
            });
        }
        Ok(Self {
            base_url,
            shared,
            shutdown,
            runtime: Some(runtime),
        })
    }
}

impl Drop for FakeImages {
    fn drop(&mut self) {
        self.halt();
    }
}

/// An OpenAI-style error answer.
fn error(status: StatusCode, message: &str, code: &str) -> Response {
    let body =
        json!({ "error": { "message": message, "type": "invalid_request_error", "code": code } });
    (status, axum::Json(body)).into_response()
}

/// The answer for an injected fault.
async fn faulted(fault: Fault) -> Response {
    match fault {
        Fault::RateLimited { retry_after } => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for images",
                "rate_limit_exceeded",
            );
            if let Some(value) = retry_after.and_then(|value| value.parse().ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(status, "injected failure", "injected")
        }
        Fault::Refused => error(
            StatusCode::BAD_REQUEST,
            "Your request was rejected as a result of our safety system.",
            "content_policy_violation",
        ),
        Fault::Garbage => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html>502 from a proxy that says 200</html>",
        )
            .into_response(),
        Fault::Hang => std::future::pending().await,
    }
}

/// Counts a create in flight until dropped.
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.data().in_flight -= 1;
    }
}

async fn create(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let _in_flight = {
        let mut data = shared.data();
        data.stats.creates += 1;
        data.in_flight += 1;
        data.stats.max_concurrent_creates = data.stats.max_concurrent_creates.max(data.in_flight);
        InFlight(shared.clone())
    };
    if let Some(fault) = shared.next_fault(Route::Create) {
        return faulted(fault).await;
    }
    if let Some(refused) = shared.refusal(&headers) {
        return refused;
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body is not JSON",
            "invalid_json",
        );
    };
    if request
        .get("prompt")
        .and_then(Value::as_str)
        .is_none_or(|prompt| prompt.trim().is_empty())
    {
        return error(
            StatusCode::BAD_REQUEST,
            "'prompt' is a required property",
            "invalid_value",
        );
    }
    if !shared.config.create_delay.is_zero() {
        tokio::time::sleep(shared.config.create_delay).await;
    }
    shared.data().last_create = Some(request.clone());
    match shared.config.answering {
        Answering::Direct => axum::Json(direct(&shared, &request)).into_response(),
        Answering::Job { .. } => {
            let id = {
                let mut data = shared.data();
                data.next_id += 1;
                let id = format!("img_{:04}", data.next_id);
                data.jobs.insert(id.clone(), (0, request));
                id
            };
            axum::Json(json!({ "id": id, "status": "queued", "created": 1_713_833_628 }))
                .into_response()
        }
    }
}

async fn poll(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    shared.data().stats.polls += 1;
    if let Some(fault) = shared.next_fault(Route::Poll) {
        return faulted(fault).await;
    }
    if let Some(refused) = shared.refusal(&headers) {
        return refused;
    }
    let polls_to_done = match shared.config.answering {
        Answering::Job { polls } => polls.max(1),
        Answering::Direct => 1,
    };
    let (polls, request) = {
        let mut data = shared.data();
        let Some((polls, request)) = data.jobs.get_mut(&id) else {
            drop(data);
            return error(StatusCode::NOT_FOUND, &format!("no job {id}"), "not_found");
        };
        *polls += 1;
        (*polls, request.clone())
    };
    if polls < polls_to_done {
        return axum::Json(json!({ "id": id, "status": "in_progress" })).into_response();
    }
    if let Some((code, message)) = &shared.config.fail_jobs {
        return axum::Json(json!({
            "id": id,
            "status": "failed",
            "error": { "code": code, "message": message },
        }))
        .into_response();
    }
    let mut answer = direct(&shared, &request);
    answer["id"] = json!(id);
    answer["status"] = json!("completed");
    axum::Json(answer).into_response()
}

async fn file(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    {
        let mut data = shared.data();
        data.stats.files += 1;
        data.stats.file_saw_credentials |= headers.contains_key(header::AUTHORIZATION);
    }
    if let Some(fault) = shared.next_fault(Route::File) {
        return faulted(fault).await;
    }
    let Some(seed) = name
        .strip_suffix(".png")
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
    else {
        return error(StatusCode::NOT_FOUND, "no such file", "not_found");
    };
    let side = shared.config.image_side;
    ([(header::CONTENT_TYPE, "image/png")], picture(seed, side)).into_response()
}

/// A direct answer for `request`: base64 or a URL as its `response_format` asks.
fn direct(shared: &Shared, request: &Value) -> Value {
    let prompt = request.get("prompt").and_then(Value::as_str).unwrap_or("");
    let digest = Sha256::digest(prompt.as_bytes());
    let seed = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default());
    let item = if request.get("response_format").and_then(Value::as_str) == Some("url") {
        json!({ "url": format!("{}/files/{seed:016x}.png", shared.file_base) })
    } else {
        json!({ "b64_json": STANDARD.encode(picture(seed, shared.config.image_side)) })
    };
    json!({ "created": 1_713_833_628, "data": [item] })
}

/// A `side` × `side` PNG in one colour chosen by `seed`.
fn picture(seed: u64, side: u32) -> Vec<u8> {
    let rgba = [(seed >> 16) as u8, (seed >> 8) as u8, seed as u8, 255];
    let pixels: Vec<u8> = (0..side * side).flat_map(|_| rgba).collect();
    bevy_asset_provider::source::procedural::encode_png(side, side, &pixels)
}
