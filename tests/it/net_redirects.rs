//! The network layer against servers that redirect and servers that talk too much: a
//! credential, a body or the previous URL never follows a redirect to another origin (a
//! refused redirect is a clear error naming where it pointed, without its query), a redirect on
//! the same origin still works and sends no `Referer`, and whatever a server says that ends in
//! an error is cut to a bounded length and scrubbed of the credential, on failed answers and
//! successful ones alike.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bevy_asset_provider::net::{Auth, NetPolicy, NetRequest, PolicyClient};

use crate::common::png;

const KEY: &str = "key-TOPSECRET-9";
const PASSWORD: &str = "hunter2-PASSWORD";

/// One request a server received.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// How a recording server answers a request (its path and query).
type Answer = Arc<dyn Fn(&Uri) -> Response + Send + Sync>;

/// A server on 127.0.0.1 that records every request and answers as `answer` says. Dropping it
/// stops it.
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Tests drop it inside their own runtime, where a blocking shutdown is not allowed.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Recorder {
    fn start(answer: Answer) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = seen.clone();
        let router = Router::new().fallback(any(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                record.lock().unwrap().push(Seen {
                    method,
                    path: uri.path().to_owned(),
                    headers,
                    body: body.to_vec(),
                });
                let answer = answer.clone();
                async move { answer(&uri) }
            },
        ));
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = axum::serve(listener, router).await;
        });
        Self {
            url,
            seen,
            runtime: Some(runtime),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Answers every request with a PNG.
fn image_server() -> Recorder {
    Recorder::start(Arc::new(|_| {
        (
            [(header::CONTENT_TYPE, "image/png")],
            png(2, 2, [1, 2, 3, 255]),
        )
            .into_response()
    }))
}

/// Redirects every request with `status` to `to`.
fn redirecting(status: u16, to: String) -> Recorder {
    Recorder::start(Arc::new(move |_| {
        (
            StatusCode::from_u16(status).unwrap(),
            [(header::LOCATION, to.clone())],
        )
            .into_response()
    }))
}

fn fast_policy() -> NetPolicy {
    NetPolicy::new()
        .max_attempts(3)
        .backoff(
            std::time::Duration::from_millis(1),
            std::time::Duration::from_millis(5),
        )
        .attempt_timeout(std::time::Duration::from_secs(10))
}

/// Fails when `other` saw the credential, an `Authorization` header or the body.
fn assert_no_leak(other: &Recorder, status: u16) {
    for seen in other.seen() {
        let headers = format!("{:?}", seen.headers);
        assert!(
            !headers.contains(KEY),
            "{status}: the other origin saw the credential: {} {} {headers}",
            seen.method,
            seen.path
        );
        assert!(
            !seen.headers.contains_key(header::AUTHORIZATION),
            "{status}: the other origin saw an Authorization header"
        );
        assert!(
            !String::from_utf8_lossy(&seen.body).contains(PASSWORD),
            "{status}: the other origin got the body ({} {})",
            seen.method,
            seen.path
        );
    }
}

fn create_body() -> serde_json::Value {
    serde_json::json!({ "password": PASSWORD, "prompt": "a secret harbour", "player": "alice" })
}

#[tokio::test]
async fn nothing_follows_a_redirect_to_another_origin() {
    let other = image_server();
    for status in [307, 308, 302, 301, 303] {
        let origin = redirecting(
            status,
            format!("{}/landed?api_key=LEAKED-QUERY&page=2", other.url),
        );
        for auth in [Auth::header("x-api-key", KEY).unwrap(), Auth::bearer(KEY)] {
            let client = PolicyClient::new(&origin.url, fast_policy().auth(auth.clone())).unwrap();
            let created = client
                .send(NetRequest::post("v1/create").json(&create_body()).unwrap())
                .await;
            // A GET carrying the credential is held back too.
            let fetched = client.send(NetRequest::get("v1/file")).await;
            assert_no_leak(&other, status);
            let error = created.expect_err("a redirect to another origin must fail");
            let text = format!("{error} {error:?}");
            assert!(
                text.contains("redirect") && text.contains(&format!("{}/landed", other.url)),
                "{status} {auth:?}: the error does not name the refused redirect: {text}"
            );
            assert!(
                !text.contains("LEAKED-QUERY") && !text.contains(KEY),
                "{status}: {text}"
            );
            assert!(fetched.is_err(), "{status}: a credentialed GET followed");
        }
        // Refused, not retried: one call per request.
        assert_eq!(origin.seen().len(), 4, "{status}");
    }
    assert!(
        other.seen().is_empty(),
        "the other origin was reached: {:?}",
        other
            .seen()
            .iter()
            .map(|seen| format!("{} {}", seen.method, seen.path))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_redirect_on_the_same_origin_works_and_sends_no_referer() {
    let server = Recorder::start(Arc::new(|uri: &Uri| {
        if uri.path() == "/v1/old" {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, "/v1/new")],
            )
                .into_response()
        } else {
            axum::Json(serde_json::json!({ "ok": true })).into_response()
        }
    }));
    let client = PolicyClient::new(
        &server.url,
        fast_policy().auth(Auth::header("x-api-key", KEY).unwrap()),
    )
    .unwrap();
    let answer: serde_json::Value = client
        .json(
            NetRequest::post("v1/old?page=2&session=s-1")
                .json(&create_body())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(answer["ok"], true);
    let seen = server.seen();
    assert_eq!(
        seen.iter()
            .map(|seen| seen.path.as_str())
            .collect::<Vec<_>>(),
        ["/v1/old", "/v1/new"]
    );
    let landed = &seen[1];
    // The same origin had the credential and the body already: a 307 sends them again.
    assert_eq!(landed.method, Method::POST);
    assert_eq!(landed.headers.get("x-api-key").unwrap(), KEY);
    assert_eq!(landed.body, serde_json::to_vec(&create_body()).unwrap());
    assert!(
        !landed.headers.contains_key(header::REFERER),
        "the previous URL went along: {:?}",
        landed.headers.get(header::REFERER)
    );
}

#[tokio::test]
async fn a_plain_download_may_follow_a_cdn_redirect_with_nothing_to_leak() {
    let cdn = image_server();
    let storage = redirecting(302, format!("{}/blob.png", cdn.url));
    let backend = Recorder::start(Arc::new(|_| StatusCode::NOT_FOUND.into_response()));
    // The credential belongs to the backend; the file is on another origin that redirects to
    // a third.
    let client = PolicyClient::new(&backend.url, fast_policy().bearer(KEY)).unwrap();
    let answer = client
        .send(NetRequest::get(format!("{}/file.png?page=1", storage.url)))
        .await
        .unwrap();
    assert!(answer.bytes.starts_with(b"\x89PNG"));
    let seen = cdn.seen();
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].headers.contains_key(header::AUTHORIZATION));
    assert!(!seen[0].headers.contains_key(header::REFERER));
    assert!(backend.seen().is_empty());
}

/// A server answering every request with `status` and `body`.
fn saying(status: StatusCode, body: String) -> Recorder {
    Recorder::start(Arc::new(move |_| {
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.clone(),
        )
            .into_response()
    }))
}

/// A message of about 2 MB that quotes the key back.
fn huge_message() -> String {
    format!(
        "Incorrect API key provided: {KEY}. {}",
        "and so on ".repeat(200_000)
    )
}

#[tokio::test]
async fn server_words_in_errors_are_cut_and_scrubbed() {
    let failed = saying(
        StatusCode::UNPROCESSABLE_ENTITY,
        serde_json::json!({ "message": huge_message(), "code": "bad" }).to_string(),
    );
    // A success whose body does not fit: the parse error quotes the value.
    let garbled = saying(
        StatusCode::OK,
        serde_json::json!({ "count": huge_message() }).to_string(),
    );
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Counted {
        count: u32,
    }
    for (server, name) in [(&failed, "a 422"), (&garbled, "a garbled 200")] {
        let client = PolicyClient::new(&server.url, fast_policy().bearer(KEY)).unwrap();
        let error = client
            .json::<Counted>(
                NetRequest::get("v1/thing").retries(bevy_asset_provider::net::Retries::Never),
            )
            .await
            .expect_err("the answer is an error");
        let error = error.to_asset_error();
        let message = error.message();
        assert!(
            message.len() < 2_000,
            "{name}: the error holds {} bytes of the server's words",
            message.len()
        );
        assert!(!message.contains(KEY), "{name}: the key is in {message}");
        assert!(
            message.contains("cut"),
            "{name}: not marked as cut: {message}"
        );
        assert!(message.contains("Incorrect API key"), "{name}: {message}");
    }
}

/// The create's own `name`, which the client checks the answer against.
fn name_of(body: &[u8]) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    body.get("name")?.as_str().map(str::to_owned)
}

#[test]
fn a_failed_generations_words_are_cut_and_scrubbed() {
    use crate::common::hostile::{Script, hostile};
    use crate::common::{headless_app, task, update_until};
    use bevy::prelude::*;
    use bevy_asset_provider::backend::PixSimSource;
    use bevy_asset_provider::prelude::*;

    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNlY3JldA";
    let words = format!(
        "provider refused Bearer {jwt}\nERROR forged log line {}",
        "blah ".repeat(400_000)
    );
    // A successful answer (201) naming a failed generation, with megabytes of reason.
    let create: Script = Arc::new(move |_, body| {
        crate::common::hostile::Reply::Json(
            StatusCode::CREATED,
            serde_json::json!({
                "id": 1, "status": "failed", "operation_type": "text_to_image",
                "name": name_of(body), "user": {"type": "user", "id": 1},
                "error_code": "provider_error", "error_message": words,
            }),
        )
    });
    let server = hostile(vec![("POST /api/v1/generations", create)], None);
    let source = PixSimSource::builder(&server.url)
        .token("test-token")
        .websocket(false)
        .build()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source)
            .with_default_timeout(std::time::Duration::from_secs(8)),
    );
    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().scene("quay").prompt("the quay"))
        .id();
    update_until(&mut app, "the task ends", |app| {
        task(app, entity).status().is_terminal()
    });
    let done = task(&app, entity);
    assert_eq!(done.status(), TaskStatus::Failed);
    let message = done.error().unwrap().message().to_owned();
    assert!(
        message.len() < 2_000,
        "the error holds {} bytes",
        message.len()
    );
    assert!(
        message.contains("provider refused") && message.contains("cut"),
        "{message}"
    );
    assert!(
        !message.contains(jwt) && !message.contains('\n'),
        "{message}"
    );
}

#[tokio::test]
async fn a_login_refusal_never_quotes_the_password() {
    use bevy_asset_provider::backend::PixSimSource;
    use bevy_asset_provider::prelude::*;
    use bevy_asset_provider::source::{AssetSource, SourceRequest};

    // FastAPI's 422 quotes the input it refused, the password included.
    let server = saying(
        StatusCode::UNPROCESSABLE_ENTITY,
        serde_json::json!({ "detail": [{ "loc": ["body", "email"], "msg": "value is not a valid email",
            "input": { "email": "me", "password": PASSWORD } }] })
        .to_string(),
    );
    let source = PixSimSource::builder(&server.url)
        .login("me", PASSWORD)
        .websocket(false)
        .build()
        .unwrap();
    let request = AssetRequest::image().prompt("a quay");
    let session = PlaySession::default();
    let error = source
        .resolve(&SourceRequest::new(
            request.fingerprint(&session),
            request,
            session,
        ))
        .await
        .expect_err("the login is refused");
    let text = format!("{error} {error:?}");
    assert!(
        text.contains("422") && text.contains("valid email"),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
}
