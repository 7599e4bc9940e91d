//! The dev backend's knobs that make it behave like the real PixSim7 service where that differs
//! from the contract (CONTRACT.md, last section), each checked over loopback HTTP with a plain
//! client.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pixsim_dev::{DEV_PASSWORD, DevBackend, DevBackendBuilder, SceneMediaMode};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The second account's token.
const OTHER: &str = "other-token";

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// Jobs done quickly.
fn fast() -> DevBackendBuilder {
    DevBackend::builder().job_delays(Duration::from_millis(5), Duration::from_millis(20))
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

/// A plain HTTP client of one dev backend.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(dev: &DevBackend) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            http: reqwest::Client::new(),
            base: dev.base_url().to_owned(),
            token: dev.token().to_owned(),
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut request = self.http.request(method, url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("the dev backend answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A create by the account with `token`.
    async fn create_as(&self, token: &str, body: &Value) -> Reply {
        self.call(Method::POST, "/api/v1/generations", Some(token), Some(body))
            .await
    }

    /// A create by the main account.
    async fn create(&self, body: &Value) -> Reply {
        self.create_as(&self.token.clone(), body).await
    }

    async fn get_as(&self, token: &str, path: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.get_as(&self.token.clone(), path).await
    }

    async fn generation(&self, id: u64) -> Value {
        let reply = self.get(&format!("/api/v1/generations/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.body
    }

    /// Polls generation `id` until `done` holds, for at most 20 s.
    async fn until(&self, id: u64, what: &str, mut done: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let generation = self.generation(id).await;
            if done(&generation) {
                return generation;
            }
            assert!(
                Instant::now() < deadline,
                "gave up waiting for {what}: {generation}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn until_status(&self, id: u64, status: &str) -> Value {
        self.until(id, status, |g| g["status"] == status).await
    }
}

/// A create body as the contract shows it; `strategy` and the scenes vary.
fn create_body(prompt: &str, from: &str, to: &str, strategy: &str) -> Value {
    json!({
        "provider_id": "pixverse",
        "config": {
            "generationType": "text_to_image",
            "purpose": "gap_fill",
            "strategy": strategy,
            "prompt": prompt,
            "style": {"pacing": "medium", "pixverse": {"seed": 42}},
            "duration": {"target": 5},
            "constraints": {},
            "fallback": {"mode": "placeholder", "timeoutMs": 30000},
            "version": 1
        },
        "from_scene": {"id": from},
        "to_scene": {"id": to},
        "priority": 5,
        "force_new": false
    })
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn id_of(reply: &Reply) -> u64 {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_u64().expect("a numeric id")
}

/// Every text message of the generations socket, collected in the background.
async fn listen(dev: &DevBackend) -> Arc<Mutex<Vec<Value>>> {
    let url = format!(
        "{}/api/v1/ws/generations",
        dev.base_url().replacen("http", "ws", 1)
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the socket opens");
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    // The greeting first, so no event of a later create is missed.
    let greeting = socket.next().await.expect("a greeting").expect("a message");
    let text = greeting.into_text().expect("text");
    sink.lock()
        .unwrap()
        .push(serde_json::from_str(text.as_str()).unwrap_or(Value::Null));
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            if let Ok(text) = message.into_text()
                && let Ok(value) = serde_json::from_str::<Value>(text.as_str())
            {
                sink.lock().unwrap().push(value);
            }
        }
    });
    events
}

/// Waits until the socket delivered an event matching `wanted`, for at most 20 s.
async fn until_event(events: &Mutex<Vec<Value>>, what: &str, wanted: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !events.lock().unwrap().iter().any(&wanted) {
        assert!(
            Instant::now() < deadline,
            "gave up waiting for the event {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn events_of(events: &Mutex<Vec<Value>>, id: u64) -> Vec<Value> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e["generation_id"] == id || e["data"]["generation_id"] == id)
        .cloned()
        .collect()
}

mod dedup;
mod jobs;
mod shapes;
