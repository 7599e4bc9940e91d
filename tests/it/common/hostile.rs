//! A scripted server on 127.0.0.1 that speaks just enough of the generation API to misbehave:
//! each route answers as its script says (JSON, hanging, resetting mid-body, any status), and the
//! WebSocket can be silent or send garbage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How a route answers one call.
#[derive(Clone, Debug)]
pub enum Reply {
    /// This status and JSON body.
    Json(StatusCode, Value),
    /// This status, body and headers, as they are.
    Raw(StatusCode, Vec<(&'static str, String)>, Vec<u8>),
    /// Never answers.
    Hang,
    /// Sends these bytes of the body, then cuts the connection.
    Reset(Vec<u8>),
}

/// What the WebSocket does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Socket {
    /// Accepts, then says nothing and answers no ping (a half-open connection).
    Silent,
    /// Sends garbage, then keeps quiet but answers pings.
    Garbage,
}

/// A route's script: given the call number (0-based) and the request body, the reply.
pub type Script = Arc<dyn Fn(usize, &[u8]) -> Reply + Send + Sync>;

/// A running scripted server. Dropping it stops it.
pub struct Hostile {
    pub url: String,
    calls: Arc<Mutex<HashMap<String, usize>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Hostile {
    /// How often `route` (`"POST /api/v1/generations"`) was called.
    pub fn calls(&self, route: &str) -> usize {
        self.calls.lock().unwrap().get(route).copied().unwrap_or(0)
    }
}

/// Starts a server answering each `"METHOD /path"` of `routes` by its script (paths match
/// exactly); anything else is a 404.
pub fn hostile(routes: Vec<(&str, Script)>, socket: Option<Socket>) -> Hostile {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let calls: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let scripts: Arc<HashMap<String, Script>> = Arc::new(
        routes
            .into_iter()
            .map(|(route, script)| (route.to_owned(), script))
            .collect(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app_calls = calls.clone();
    let fallback = any(
        move |method: axum::http::Method, uri: axum::http::Uri, _: HeaderMap, body: Bytes| {
            let route = format!("{method} {}", uri.path());
            let scripts = scripts.clone();
            let calls = app_calls.clone();
            async move {
                let call = {
                    let mut calls = calls.lock().unwrap();
                    let count = calls.entry(route.clone()).or_default();
                    *count += 1;
                    *count - 1
                };
                let Some(script) = scripts.get(&route) else {
                    return (StatusCode::NOT_FOUND, "no such route").into_response();
                };
                reply(script(call, &body)).await
            }
        },
    );
    let mut router = Router::new();
    if let Some(socket) = socket {
        router = router.route(
            "/api/v1/ws/generations",
            get(move |upgrade: WebSocketUpgrade| async move {
                upgrade.on_upgrade(move |mut ws| async move {
                    if socket == Socket::Garbage {
                        for frame in [
                            "not json",
                            "{\"type\": 7}",
                            "{\"type\":\"job:completed\"",
                            "\u{0}\u{1}",
                        ] {
                            let _ = ws.send(Message::Text(frame.into())).await;
                        }
                        let _ = ws.send(Message::Binary(vec![0xff; 64].into())).await;
                        while let Some(Ok(message)) = ws.recv().await {
                            if let Message::Text(text) = message
                                && text.as_str() == "ping"
                            {
                                let _ = ws.send(Message::Text("pong".into())).await;
                            }
                        }
                    } else {
                        // Hold the connection and never say a word.
                        std::future::pending::<()>().await;
                    }
                })
            }),
        );
    }
    let router = router.fallback(fallback);
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let _ = axum::serve(listener, router).await;
    });
    Hostile {
        url,
        calls,
        _runtime: runtime,
    }
}

async fn reply(reply: Reply) -> Response {
    match reply {
        Reply::Json(status, value) => (status, axum::Json(value)).into_response(),
        Reply::Raw(status, headers, body) => {
            let mut response = (status, body).into_response();
            for (name, value) in headers {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Reply::Reset(start) => {
            let len = start.len() * 4 + 16;
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from(start)),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "cut",
                )),
            ];
            let stream = futures_util::stream::iter(chunks);
            let mut response = Response::new(Body::from_stream(stream));
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
            response
        }
    }
}

/// A script answering `reply` every time.
pub fn always(reply: Reply) -> Script {
    Arc::new(move |_, _| reply.clone())
}

/// A script answering `first` to the first `count` calls, then `then`.
pub fn first_then(count: usize, first: Reply, then: Reply) -> Script {
    Arc::new(move |call, _| {
        if call < count {
            first.clone()
        } else {
            then.clone()
        }
    })
}

/// Routes serving asset 1 (a PNG with its size and SHA-256) and its file `/file` holding `png`.
pub fn asset_and_file(png: Vec<u8>) -> Vec<(&'static str, Script)> {
    vec![
        (
            "GET /api/v1/assets/1",
            always(Reply::Json(
                StatusCode::OK,
                json!({"id": 1, "media_type": "image", "mime_type": "image/png",
                    "file_url": "/file", "file_size_bytes": png.len(),
                    "sha256": hex::encode(Sha256::digest(&png))}),
            )),
        ),
        (
            "GET /file",
            always(Reply::Raw(
                StatusCode::OK,
                vec![("content-type", "image/png".to_owned())],
                png,
            )),
        ),
    ]
}
