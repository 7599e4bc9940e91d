//! How the PixSim7 client follows its creates and jobs against a server that pushes back: a 429
//! is waited out whatever the create budget, socket chatter about other generations does not
//! hold the fallback poll back, and an oversize socket message is refused by the reader.
//!
//! The HTTP side is the scripted server of `crate::common::hostile`; the WebSocket is served by a
//! front on its own port that passes every other connection through to it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::http::StatusCode;
use bevy::prelude::*;
use bevy_asset_provider::backend::{PixSimSource, PixSimSourceBuilder};
use bevy_asset_provider::prelude::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use crate::common::hostile::{Reply, Script, asset_and_file, hostile};
use crate::common::*;

fn picture() -> Vec<u8> {
    png(6, 4, [30, 160, 90, 255])
}

fn name_of(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find("\"name\":\"")? + 8;
    text[at..].split('"').next()
}

fn generation(status: &str, name: Option<&str>) -> Value {
    let mut value = json!({"id": 1, "status": status, "operation_type": "text_to_image",
        "name": name, "user": {"type": "user", "id": 1}});
    if status == "completed" {
        value["asset"] = json!({"type": "asset", "id": 1, "meta": null});
    }
    value
}

fn app_with(source: PixSimSource) -> App {
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source)
            .with_default_timeout(Duration::from_secs(15)),
    );
    app.update();
    app
}

/// Requests a picture and steps until its task ends.
fn run(app: &mut App, request: AssetRequest) -> GenerationTask {
    let entity = app.world_mut().spawn(request).id();
    update_until(app, "the task ends", |app| {
        task(app, entity).status().is_terminal()
    });
    task(app, entity)
}

fn picture_request() -> AssetRequest {
    AssetRequest::image()
        .scene("harbour")
        .prompt("the harbour at noon")
}

// ---------------------------------------------------------------------------------------------
// 429
// ---------------------------------------------------------------------------------------------

/// A backend refusing the first create with `refusal`, then making the job at once; it records
/// when each create arrived.
fn refusing_once(refusal: Reply) -> (crate::common::hostile::Hostile, Arc<Mutex<Vec<Instant>>>) {
    refusing_once_with(move || refusal.clone())
}

/// [`refusing_once`], with the refusal made when the first create arrives.
fn refusing_once_with(
    refusal: impl Fn() -> Reply + Send + Sync + 'static,
) -> (crate::common::hostile::Hostile, Arc<Mutex<Vec<Instant>>>) {
    let times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = times.clone();
    let mut routes: Vec<(&str, Script)> = vec![(
        "POST /api/v1/generations",
        Arc::new(move |call, body| {
            seen.lock().unwrap().push(Instant::now());
            if call == 0 {
                refusal()
            } else {
                Reply::Json(StatusCode::CREATED, generation("completed", name_of(body)))
            }
        }),
    )];
    routes.extend(asset_and_file(picture()));
    (hostile(routes, None), times)
}

fn too_many(headers: Vec<(&'static str, String)>) -> Reply {
    Reply::Raw(
        StatusCode::TOO_MANY_REQUESTS,
        [
            vec![("content-type", "application/json".to_owned())],
            headers,
        ]
        .concat(),
        br#"{"code":"http_429","message":"slow down"}"#.to_vec(),
    )
}

/// A client without a create budget (`max_creates_per_minute(0)`) whose own backoff starts at
/// `base`.
fn unbudgeted(url: &str, base: Duration) -> PixSimSourceBuilder {
    PixSimSource::builder(url)
        .token("test-token")
        .websocket(false)
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .retries(3, base, base * 4)
        .max_creates_per_minute(0)
}

/// The time between the refused create and the retry, after the request completed.
fn gap_after_refusal(app: &mut App, times: &Mutex<Vec<Instant>>) -> Duration {
    let done = run(app, picture_request());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    let times = times.lock().unwrap();
    assert_eq!(times.len(), 2, "one refused create, one retry");
    times[1].duration_since(times[0])
}

#[test]
fn a_429_with_retry_after_seconds_is_waited_out_without_a_create_budget() {
    let (server, times) = refusing_once(too_many(vec![("retry-after", "2".to_owned())]));
    let mut app = app_with(
        unbudgeted(&server.url, Duration::from_millis(10))
            .build()
            .unwrap(),
    );
    let gap = gap_after_refusal(&mut app, &times);
    assert!(
        gap >= Duration::from_secs(2),
        "the retry went out {gap:?} after the 429 that said Retry-After: 2"
    );
}

#[test]
fn a_429_with_a_retry_after_date_is_waited_out_without_a_create_budget() {
    // A date four seconds ahead of the refusal, made as it is sent: an HTTP date drops the
    // fraction of a second, so more than three whole seconds remain when the client reads it
    // (a date made before the app started could leave less than two on a loaded machine).
    let said = Arc::new(Mutex::new(String::new()));
    let date = said.clone();
    let (server, times) = refusing_once_with(move || {
        let now = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(4));
        *date.lock().unwrap() = now.clone();
        too_many(vec![("retry-after", now)])
    });
    let mut app = app_with(
        unbudgeted(&server.url, Duration::from_millis(10))
            .build()
            .unwrap(),
    );
    let gap = gap_after_refusal(&mut app, &times);
    assert!(
        gap >= Duration::from_secs(2),
        "the retry went out {gap:?} after the 429 that said Retry-After: {}",
        said.lock().unwrap()
    );
}

#[test]
fn a_429_without_retry_after_backs_off_without_a_create_budget() {
    let (server, times) = refusing_once(too_many(Vec::new()));
    let base = Duration::from_millis(400);
    let mut app = app_with(unbudgeted(&server.url, base).build().unwrap());
    let gap = gap_after_refusal(&mut app, &times);
    assert!(
        gap >= base,
        "the retry went out {gap:?} after a 429 without Retry-After (backoff base {base:?})"
    );
}

#[test]
fn an_absurd_retry_after_is_capped_by_max_server_wait() {
    let (server, times) = refusing_once(too_many(vec![("retry-after", "999999999".to_owned())]));
    let mut app = app_with(
        unbudgeted(&server.url, Duration::from_millis(10))
            .max_server_wait(Duration::from_millis(500))
            .build()
            .unwrap(),
    );
    let gap = gap_after_refusal(&mut app, &times);
    assert!(gap >= Duration::from_millis(500), "{gap:?}");
    assert!(gap < Duration::from_secs(10), "{gap:?}");
}

// ---------------------------------------------------------------------------------------------
// The WebSocket
// ---------------------------------------------------------------------------------------------

/// What the front's WebSocket does once a client connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Talk {
    /// Sends events about other generations (never ours, id 1) every few milliseconds, as the
    /// real socket does with every user's events.
    Chatter,
    /// Starts a 8 MiB text frame, sends 2 MiB of it, and holds the connection.
    Oversize,
}

/// A WebSocket on its own port, in front of a scripted HTTP server.
struct Front {
    url: String,
    /// Sockets the client opened.
    opened: Arc<AtomicUsize>,
    /// Sockets the client closed.
    closed: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

/// Serves the WebSocket path itself as `talk` says and passes every other connection through
/// to `backend` (`http://127.0.0.1:port`).
fn front(backend: &str, talk: Talk) -> Front {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let backend = backend.trim_start_matches("http://").to_owned();
    let opened: Arc<AtomicUsize> = Arc::default();
    let closed: Arc<AtomicUsize> = Arc::default();
    let (open_count, close_count) = (opened.clone(), closed.clone());
    runtime.spawn(async move {
        let listener = TcpListener::from_std(listener).unwrap();
        while let Ok((stream, _)) = listener.accept().await {
            let backend = backend.clone();
            let (opened, closed) = (open_count.clone(), close_count.clone());
            tokio::spawn(async move {
                if is_socket_request(&stream).await {
                    opened.fetch_add(1, Ordering::SeqCst);
                    talk_on(stream, talk).await;
                    closed.fetch_add(1, Ordering::SeqCst);
                } else if let Ok(mut upstream) = TcpStream::connect(&backend).await {
                    let mut stream = stream;
                    let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
                }
            });
        }
    });
    Front {
        url,
        opened,
        closed,
        _runtime: runtime,
    }
}

/// Whether the connection's first request asks for the generations socket (read without
/// consuming it).
async fn is_socket_request(stream: &TcpStream) -> bool {
    const SOCKET: &[u8] = b"GET /api/v1/ws/generations";
    let mut head = [0u8; SOCKET.len()];
    loop {
        let Ok(read) = stream.peek(&mut head).await else {
            return false;
        };
        if read == 0 || head[..read] != SOCKET[..read] {
            return false;
        }
        if read == SOCKET.len() {
            return true;
        }
        tokio::task::yield_now().await;
    }
}

/// Accepts the socket and talks as `talk` says until the client goes.
async fn talk_on(stream: TcpStream, talk: Talk) {
    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    match talk {
        Talk::Chatter => {
            let _ = socket
                .send(Message::text(r#"{"type":"connected","message":"hi"}"#))
                .await;
            for n in 1000u64.. {
                let kind = ["job:started", "job:progress", "job:completed"][n as usize % 3];
                let event = json!({"type": kind, "generation_id": n, "status": "processing",
                    "data": {"generation_id": n}, "timestamp": "2026-11-30T10:00:00Z"});
                if socket.send(Message::text(event.to_string())).await.is_err() {
                    return;
                }
                // The pace of a busy server, not a synchronisation.
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        }
        Talk::Oversize => {
            // A FIN text frame announcing 8 MiB (under tungstenite's default 16 MiB frame
            // limit), written raw so the header goes out before the payload does.
            let stream = socket.get_mut();
            let mut frame = vec![0x81, 127];
            frame.extend_from_slice(&(8u64 << 20).to_be_bytes());
            if stream.write_all(&frame).await.is_err() {
                return;
            }
            let chunk = vec![b'a'; 64 * 1024];
            for _ in 0..32 {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let _ = stream.flush().await;
            // Hold the connection until the client drops it.
            let mut sink = [0u8; 4096];
            loop {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        }
    }
}

/// A backend whose job (id 1) is `processing` for the first `looks` and `completed` from then
/// on; the socket never says so.
fn completed_after_looks(looks: usize) -> Vec<(&'static str, Script)> {
    let mut routes: Vec<(&str, Script)> = vec![
        (
            "POST /api/v1/generations",
            Arc::new(|_, body| {
                Reply::Json(StatusCode::CREATED, generation("pending", name_of(body)))
            }),
        ),
        (
            "GET /api/v1/generations/1",
            Arc::new(move |call, _| {
                let status = if call < looks {
                    "processing"
                } else {
                    "completed"
                };
                Reply::Json(StatusCode::OK, generation(status, None))
            }),
        ),
    ];
    routes.extend(asset_and_file(picture()));
    routes
}

#[test]
fn socket_chatter_about_other_generations_does_not_hold_the_poll_back() {
    let server = hostile(completed_after_looks(1), None);
    let front = front(&server.url, Talk::Chatter);
    // With the socket up a job polls every `max` as a safety net: 600 ms here.
    let source = PixSimSource::builder(&front.url)
        .token("test-token")
        .poll_interval(Duration::from_millis(600), Duration::from_millis(600))
        .retries(3, Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .unwrap();
    let mut app = app_with(source);
    let max_wait = Duration::from_secs(10);
    let started = Instant::now();
    let done = run(&mut app, picture_request().max_wait(max_wait));
    let took = started.elapsed();
    assert!(
        front.opened.load(Ordering::SeqCst) >= 1,
        "the socket was used"
    );
    assert_eq!(
        done.status(),
        TaskStatus::Completed,
        "after {took:?}: {:?}",
        done.error()
    );
    assert!(
        took < max_wait / 2,
        "the job was polled only after {took:?} (max_wait {max_wait:?})"
    );
    assert!(server.calls("GET /api/v1/generations/1") >= 2);
}

#[test]
fn an_oversize_socket_message_is_refused_by_the_reader_and_the_job_polled() {
    // Two looks (one while the socket is not up yet, one when it comes up) do not find it done.
    let server = hostile(completed_after_looks(2), None);
    let front = front(&server.url, Talk::Oversize);
    // Without the socket the job is polled every 200 ms on; a trusted socket would leave it
    // unpolled for 30 s.
    let source = PixSimSource::builder(&front.url)
        .token("test-token")
        .poll_interval(Duration::from_millis(200), Duration::from_secs(30))
        .retries(3, Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .unwrap();
    let mut app = app_with(source);
    let entity = app
        .world_mut()
        .spawn(picture_request().max_wait(Duration::from_secs(12)))
        .id();
    // The client hangs up on the frame's header, without waiting for its 8 MiB.
    update_until(&mut app, "the client to drop the oversize socket", |_| {
        front.closed.load(Ordering::SeqCst) >= 1
    });
    update_until(&mut app, "the task ends", |app| {
        task(app, entity).status().is_terminal()
    });
    let done = task(&app, entity);
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert!(server.calls("GET /api/v1/generations/1") >= 3);
}
