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

#[test]
fn the_real_cache_key_gives_another_prompt_the_same_transitions_generation() {
    let dev = fast().real_cache_key(true).spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let first = id_of(
            &api.create(&create_body("a bench at dusk", "park", "bench", "once"))
                .await,
        );
        let other = api
            .create(&create_body("a lake at noon", "park", "bench", "once"))
            .await;
        assert_eq!(id_of(&other), first, "no prompt in the key");
        assert_eq!(other.body["final_prompt"], "a bench at dusk");
        // A reseeded create is a hash miss but the same key.
        let mut reseeded = create_body("a bench at dusk", "park", "bench", "once");
        reseeded["config"]["style"]["pixverse"]["seed"] = json!(7);
        assert_eq!(id_of(&api.create(&reseeded).await), first);
        // The dedup hash has no purpose in it: another purpose with the same prompt is a hit.
        let mut variation = create_body("a bench at dusk", "park", "bench", "once");
        variation["config"]["purpose"] = json!("variation");
        assert_eq!(id_of(&api.create(&variation).await), first);
        // Another purpose and prompt, another scene, `force_new` and `always` are other work.
        variation["config"]["prompt"] = json!("a bench at dawn");
        assert_ne!(id_of(&api.create(&variation).await), first);
        assert_ne!(
            id_of(
                &api.create(&create_body("a bench at dusk", "park", "lake", "once"))
                    .await
            ),
            first
        );
        let forced = with(
            create_body("a bench at dusk", "park", "bench", "once"),
            "force_new",
            json!(true),
        );
        assert_ne!(id_of(&api.create(&forced).await), first);
        let always = create_body("a fountain", "park", "bench", "always");
        let always_id = id_of(&api.create(&always).await);
        assert_ne!(always_id, first);
        // `always` skips the key, not the hash.
        assert_eq!(id_of(&api.create(&always).await), always_id);
    });
    let stats = dev.stats();
    assert_eq!(
        (stats.creates, stats.new_generations, stats.reused),
        (9, 5, 4)
    );

    // The contract's key (the default) has no prompt either; its hash tells prompts apart.
    let contract = fast().spawn().unwrap();
    let api = Api::new(&contract);
    block_on(async {
        let first = id_of(
            &api.create(&create_body("a bench at dusk", "park", "bench", "once"))
                .await,
        );
        let hash = api.generation(first).await["reproducible_hash"].clone();
        let other = id_of(
            &api.create(&create_body("a lake at noon", "park", "bench", "once"))
                .await,
        );
        assert_eq!(other, first, "the contract's key has no prompt either");
        let forced = with(
            create_body("a lake at noon", "park", "bench", "once"),
            "force_new",
            json!(true),
        );
        let forced = id_of(&api.create(&forced).await);
        assert_ne!(forced, first);
        assert_ne!(api.generation(forced).await["reproducible_hash"], hash);
    });
}

#[test]
fn the_real_cache_key_returns_cancelled_work_and_skips_failed_work() {
    let dev = DevBackend::builder()
        .job_delays(Duration::from_secs(60), Duration::from_millis(20))
        .real_cache_key(true)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let body = create_body("a quiet pier", "pier", "boat", "always");
        let id = id_of(&api.create(&body).await);
        let cancelled = api
            .call(
                Method::POST,
                &format!("/api/v1/generations/{id}/cancel"),
                Some(&api.token),
                None,
            )
            .await;
        assert_eq!(cancelled.body["status"], "cancelled", "{}", cancelled.body);
        let again = api.create(&body).await;
        assert_eq!(
            id_of(&again),
            id,
            "a dedup hash hit that is not failed is returned"
        );
        assert_eq!(again.body["status"], "cancelled");
    });

    let dev = fast()
        .real_cache_key(true)
        .reject_prompts_containing("forbidden")
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let refused = create_body("a forbidden door", "hall", "door", "once");
        let id = id_of(&api.create(&refused).await);
        let failed = api.until_status(id, "failed").await;
        assert_eq!(failed["error_code"], "content_prompt_rejected");
        let retried = id_of(&api.create(&refused).await);
        assert_ne!(retried, id, "a failed hash hit is skipped");
        api.until_status(retried, "failed").await;
        let other = id_of(
            &api.create(&create_body("an open door", "hall", "door", "once"))
                .await,
        );
        assert_ne!(other, retried, "a failed cache key hit is skipped");
        assert_ne!(other, id);
    });
}

#[test]
fn scoped_keys_are_unknown_playthroughs_and_backend_accounts() {
    let dev = fast()
        .real_cache_key(true)
        .global_dedup(true)
        .extra_account(OTHER)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let playthrough = |pt: &str, prompt: &str| {
            with(
                create_body(prompt, "romance_5", "romance_6", "per_playthrough"),
                "player_context",
                json!({"playthroughId": pt, "playerId": "p-7"}),
            )
        };
        let first = id_of(&api.create(&playthrough("pt-1", "a confession")).await);
        let second = id_of(&api.create(&playthrough("pt-2", "a refusal")).await);
        assert_eq!(second, first, "every playthrough is pt:unknown");
        let stranger = id_of(&api.create_as(OTHER, &playthrough("pt-9", "a shrug")).await);
        assert_eq!(stranger, first, "and every user's too");

        let player = |player: &str, prompt: &str| {
            with(
                create_body(prompt, "romance_5", "romance_6", "per_player"),
                "player_context",
                json!({"playthroughId": "pt-1", "playerId": player}),
            )
        };
        let mine = id_of(&api.create(&player("p-1", "a smile")).await);
        assert_ne!(mine, first);
        let my_other_player = id_of(&api.create(&player("p-2", "a frown")).await);
        assert_eq!(
            my_other_player, mine,
            "the key's player is the backend account"
        );
        let theirs = id_of(&api.create_as(OTHER, &player("p-1", "a wink")).await);
        assert_ne!(theirs, mine, "another account is another player");
        let generation = api
            .get_as(OTHER, &format!("/api/v1/generations/{theirs}"))
            .await;
        assert_eq!(
            generation.body["user"],
            json!({"type": "user", "id": 2, "meta": null})
        );
    });
}

#[test]
fn global_dedup_hands_out_work_its_reader_may_not_read() {
    let dev = fast()
        .global_dedup(true)
        .extra_account(OTHER)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let login = api
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(&json!({"username": "user2", "password": DEV_PASSWORD})),
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        assert_eq!(login.body["access_token"], OTHER);
        assert_eq!(login.body["user"]["id"], 2);
        let body = create_body("a lighthouse in a storm", "cliff", "lamp", "once");
        let id = id_of(&api.create(&body).await);
        let done = api.until_status(id, "completed").await;
        assert_eq!(done["user"], json!({"type": "user", "id": 1, "meta": null}));
        let asset = done["asset"]["id"].as_u64().unwrap();

        let theirs = api.create_as(OTHER, &body).await;
        assert_eq!(id_of(&theirs), id, "dedup looks across users");
        assert_eq!(theirs.body["user"]["id"], 1);
        let read = api
            .get_as(OTHER, &format!("/api/v1/generations/{id}"))
            .await;
        assert_eq!(read.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(read.body["code"], "internal_error");
        assert_eq!(
            read.message(),
            "Failed to get generation: Cannot access other users' generations"
        );
        let read = api.get_as(OTHER, &format!("/api/v1/assets/{asset}")).await;
        assert_eq!(read.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            read.message(),
            "Failed to get asset: Cannot access other users' assets"
        );
        let file = api
            .get_as(OTHER, &format!("/api/v1/assets/{asset}/file"))
            .await;
        assert_eq!(file.status, StatusCode::FORBIDDEN);
        let cancel = api
            .call(
                Method::POST,
                &format!("/api/v1/generations/{id}/cancel"),
                Some(OTHER),
                None,
            )
            .await;
        assert_eq!(cancel.status, StatusCode::INTERNAL_SERVER_ERROR);
        // Its owner reads it all.
        assert_eq!(
            api.get(&format!("/api/v1/assets/{asset}")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            api.get(&format!("/api/v1/assets/{asset}/file"))
                .await
                .status,
            StatusCode::OK
        );
        // `force_new` gives the second account its own.
        let own = id_of(
            &api.create_as(OTHER, &with(body, "force_new", json!(true)))
                .await,
        );
        assert_ne!(own, id);
        let read = api
            .get_as(OTHER, &format!("/api/v1/generations/{own}"))
            .await;
        assert_eq!(read.status, StatusCode::OK);
    });
    assert_eq!(dev.stats().foreign_refused, 4);

    // Without global dedup each account has its own work, and another's is not found.
    let dev = fast().extra_account(OTHER).spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let body = create_body("a lighthouse in a storm", "cliff", "lamp", "once");
        let id = id_of(&api.create(&body).await);
        let theirs = api.create_as(OTHER, &body).await;
        assert_ne!(id_of(&theirs), id);
        assert_eq!(theirs.body["user"]["id"], 2);
        let read = api
            .get_as(OTHER, &format!("/api/v1/generations/{id}"))
            .await;
        assert_eq!(read.status, StatusCode::NOT_FOUND);
        let list = api.get_as(OTHER, "/api/v1/generations").await;
        assert_eq!(list.body["total"], 1, "{}", list.body);
    });
}

#[test]
fn a_moderated_job_fails_then_the_server_retries_it() {
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(150), Duration::from_millis(30))
        .moderate_prompts_containing("moderated", 1)
        .server_retry_delay(Duration::from_millis(200))
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let events = listen(&dev).await;
        let id = id_of(
            &api.create(&create_body("a moderated scene", "a", "b", "always"))
                .await,
        );
        // Every state GET shows, in order.
        let mut seen: Vec<(String, u64, Value)> = Vec::new();
        let done = api
            .until(id, "completion", |g| {
                let state = (
                    g["status"].as_str().unwrap_or("").to_owned(),
                    g["retry_count"].as_u64().unwrap_or(99),
                    g["error_code"].clone(),
                );
                if seen.last() != Some(&state) {
                    seen.push(state);
                }
                g["status"] == "completed"
            })
            .await;
        let failed = seen
            .iter()
            .position(|(status, retries, code)| {
                status == "failed" && *retries == 0 && code == "content_render_moderated"
            })
            .unwrap_or_else(|| panic!("no moderated failure in {seen:?}"));
        let pending = seen
            .iter()
            .position(|(status, retries, _)| status == "pending" && *retries == 1)
            .unwrap_or_else(|| panic!("no retry in {seen:?}"));
        assert!(failed < pending, "{seen:?}");
        assert_eq!(done["retry_count"], 1);
        assert!(done["asset"]["id"].is_u64());
        until_event(&events, "job:completed", |e| e["type"] == "job:completed").await;
        let kinds: Vec<String> = events_of(&events, id)
            .iter()
            .map(|e| e["type"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(
            kinds,
            [
                "job:created",
                "job:started",
                "job:failed",
                "job:started",
                "asset:created",
                "job:completed"
            ],
            "no job:retrying"
        );
    });
    assert_eq!(dev.stats().server_retries, 1);

    // Past its retries it stays failed.
    let dev = fast()
        .moderate_prompts_containing("moderated", 5)
        .server_retry_delay(Duration::from_millis(20))
        .max_server_retries(1)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let id = id_of(
            &api.create(&create_body("moderated again", "a", "b", "always"))
                .await,
        );
        api.until(id, "the second failure", |g| {
            g["status"] == "failed" && g["retry_count"] == 1
        })
        .await;
        // It stays so for many retry delays.
        let watch = Instant::now();
        while watch.elapsed() < Duration::from_millis(300) {
            assert_eq!(api.generation(id).await["status"], "failed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert_eq!(dev.stats().server_retries, 1);
}

#[test]
fn a_cancel_loses_the_race_and_the_job_completes() {
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(400))
        .cancel_loses_race(true)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let events = listen(&dev).await;
        let id = id_of(&api.create(&create_body("a race", "a", "b", "always")).await);
        api.until_status(id, "processing").await;
        let cancel_path = format!("/api/v1/generations/{id}/cancel");
        let cancel = api
            .call(Method::POST, &cancel_path, Some(&api.token), None)
            .await;
        assert_eq!(cancel.status, StatusCode::OK);
        assert_eq!(cancel.body["status"], "processing", "{}", cancel.body);
        assert_eq!(cancel.body["deferred_action"], "cancel");
        let done = api.until_status(id, "completed").await;
        assert!(done["asset"]["id"].is_u64(), "the paid result: {done}");
        until_event(&events, "job:completed", |e| {
            e["type"] == "job:completed" && e["generation_id"] == id
        })
        .await;
        assert!(
            events_of(&events, id)
                .iter()
                .all(|e| e["type"] != "job:cancelled")
        );
        let late = api
            .call(Method::POST, &cancel_path, Some(&api.token), None)
            .await;
        assert_eq!(late.status, StatusCode::CONFLICT);
        assert_eq!(late.body["code"], "conflict");
        assert_eq!(late.message(), "Generation already completed");
    });
    assert_eq!(dev.stats().cancels_lost, 1);

    // By default a processing job's cancel wins, and a completed one's answers the generation.
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(300))
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let id = id_of(&api.create(&create_body("a race", "a", "b", "always")).await);
        api.until_status(id, "processing").await;
        let cancel_path = format!("/api/v1/generations/{id}/cancel");
        api.call(Method::POST, &cancel_path, Some(&api.token), None)
            .await;
        api.until_status(id, "cancelled").await;
        let other = id_of(
            &api.create(&create_body("no race", "a", "b", "always"))
                .await,
        );
        api.until_status(other, "completed").await;
        let late = api
            .call(
                Method::POST,
                &format!("/api/v1/generations/{other}/cancel"),
                Some(&api.token),
                None,
            )
            .await;
        assert_eq!(late.status, StatusCode::OK);
        assert_eq!(late.body["status"], "completed");
    });
}

#[test]
fn invalid_creates_answer_500_like_the_service() {
    let dev = fast().invalid_creates_answer_500(true).spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let mut no_prompt = create_body("", "a", "b", "once");
        no_prompt["config"]
            .as_object_mut()
            .unwrap()
            .remove("prompt");
        let reply = api.create(&no_prompt).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(reply.body["code"], "internal_error");
        assert_eq!(
            reply.message(),
            "Failed to create generation: text_to_image operation requires a non-empty 'prompt'"
        );
        let empty = api.create(&create_body("  ", "a", "b", "once")).await;
        assert_eq!(empty.status, StatusCode::INTERNAL_SERVER_ERROR);

        let nope = with(
            create_body("a cat", "a", "b", "once"),
            "provider_id",
            json!("nope"),
        );
        let reply = api.create(&nope).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            reply.message(),
            "Failed to create generation: Provider 'nope' not found or not registered"
        );

        let mut animate = create_body("make it move", "a", "b", "once");
        animate["config"]["generationType"] = json!("image_to_video");
        let reply = api.create(&animate).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            reply.message(),
            "Failed to create generation: IMAGE_TO_VIDEO operation requires 'composition_assets' \
             list with at least 1 entry"
        );
        animate["config"]["composition_assets"] = json!([{"asset_id": 1}]);
        assert_eq!(api.create(&animate).await.status, StatusCode::CREATED);

        let mut audio = create_body("a bell", "a", "b", "once");
        audio["config"]["generationType"] = json!("text_to_audio");
        let reply = api.create(&audio).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
        assert_eq!(
            reply.body["fields"][0]["loc"],
            json!(["body", "config", "generationType"])
        );
        let fake = with(
            create_body("a cat", "a", "b", "once"),
            "provider_id",
            json!("fake"),
        );
        assert_eq!(api.create(&fake).await.status, StatusCode::CREATED);
    });

    // The contract's answers by default: 422 without a prompt, audio accepted.
    let dev = fast().spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let reply = api.create(&create_body("", "a", "b", "once")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        let mut audio = create_body("a bell", "a", "b", "once");
        audio["config"]["generationType"] = json!("text_to_audio");
        assert_eq!(api.create(&audio).await.status, StatusCode::CREATED);
    });
}

/// `"Rate limit exceeded. Try again in N seconds."` → N.
fn wait_seconds(message: &str) -> u64 {
    message
        .strip_prefix("Rate limit exceeded. Try again in ")
        .and_then(|rest| rest.strip_suffix(" seconds."))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not the service's message: {message:?}"))
}

#[test]
fn creates_over_the_per_minute_limit_answer_429() {
    let dev = fast()
        .create_rate_limit(3, false)
        .extra_account(OTHER)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        for n in 0..3 {
            let body = create_body(&format!("frame {n}"), "a", "b", "always");
            assert_eq!(api.create(&body).await.status, StatusCode::CREATED);
        }
        let refused = api
            .create(&create_body("frame 3", "a", "b", "always"))
            .await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.body["code"], "http_429");
        let seconds = wait_seconds(refused.message());
        assert!((1..=60).contains(&seconds), "{seconds}");
        assert!(!refused.headers.contains_key(RETRY_AFTER));
        // The limit is per user.
        let theirs = api
            .create_as(OTHER, &create_body("frame 0", "a", "b", "always"))
            .await;
        assert_eq!(theirs.status, StatusCode::CREATED);
    });
    let stats = dev.stats();
    assert_eq!((stats.creates, stats.rate_limited), (4, 1));

    let dev = fast().create_rate_limit(1, true).spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        assert_eq!(
            api.create(&create_body("one", "a", "b", "always"))
                .await
                .status,
            StatusCode::CREATED
        );
        let refused = api.create(&create_body("two", "a", "b", "always")).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        let header = refused.headers[RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap();
        assert_eq!(header, wait_seconds(refused.message()));
    });
}

#[test]
fn numeric_scene_ids_are_refused_with_the_field() {
    let dev = fast().reject_numeric_ids(true).spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let numeric = with(
            create_body("a door", "a", "b", "once"),
            "from_scene",
            json!({"id": 5}),
        );
        let reply = api.create(&numeric).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.body["code"], "validation_error");
        assert_eq!(reply.message(), "Invalid request data");
        assert_eq!(reply.body["detail"], "One or more fields failed validation");
        assert_eq!(
            reply.body["fields"],
            json!([{"loc": ["body", "from_scene", "id"], "msg": "Input should be a valid string",
                "type": "string_type"}])
        );
        let both = with(numeric, "to_scene", json!({"id": 6}));
        let reply = api.create(&both).await;
        assert_eq!(
            reply.body["fields"][1]["loc"],
            json!(["body", "to_scene", "id"])
        );
        let text = with(
            create_body("a door", "5", "6", "once"),
            "force_new",
            json!(true),
        );
        assert_eq!(api.create(&text).await.status, StatusCode::CREATED);
    });
    assert_eq!(dev.stats().creates, 1);

    let dev = fast().spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let numeric = with(
            create_body("a door", "a", "b", "once"),
            "from_scene",
            json!({"id": 5}),
        );
        assert_eq!(api.create(&numeric).await.status, StatusCode::CREATED);
    });
}

#[test]
fn events_and_answers_take_the_services_shapes() {
    let dev = fast()
        .real_event_shapes(true)
        .reject_prompts_containing("forbidden")
        .extra_account(OTHER)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let events = listen(&dev).await;
        let greeting = events.lock().unwrap()[0].clone();
        assert_eq!(greeting["type"], "connected");
        let mine = id_of(&api.create(&create_body("a harbor", "a", "b", "once")).await);
        let theirs = id_of(
            &api.create_as(OTHER, &create_body("a tavern", "a", "b", "once"))
                .await,
        );
        let refused = id_of(
            &api.create(&create_body("a forbidden cave", "c", "d", "once"))
                .await,
        );
        for id in [mine, theirs] {
            until_event(&events, "job:completed", |e| {
                e["type"] == "job:completed" && e["generation_id"] == id
            })
            .await;
        }
        until_event(&events, "job:failed", |e| e["type"] == "job:failed").await;

        let of = |id: u64, kind: &str| {
            events_of(&events, id)
                .into_iter()
                .find(|e| e["type"] == kind)
                .unwrap_or_else(|| panic!("no {kind} for {id}"))
        };
        let created = of(mine, "job:created");
        assert_eq!(created["status"], Value::Null);
        assert!(created.as_object().unwrap().contains_key("status"));
        assert_eq!(created["user_id"], 1);
        assert_eq!(created["data"]["job_id"], mine);
        assert_eq!(created["data"]["params"]["prompt"], "a harbor");
        assert_eq!(created["data"]["params"]["seed"], 42);
        let started = of(mine, "job:started");
        assert_eq!(started["status"], "processing");
        assert_eq!(started["data"]["status"], "processing");
        let asset = of(mine, "asset:created");
        assert_eq!(asset["media_type"], Value::Null);
        assert!(asset.get("generation_id").is_none(), "{asset}");
        assert_eq!(asset["data"]["generation_id"], mine);
        assert!(asset["asset_id"].is_u64());
        assert_eq!(of(mine, "job:completed")["status"], "completed");
        // The socket carries the other user's events too.
        assert_eq!(of(theirs, "job:started")["user_id"], 2);
        assert_eq!(of(theirs, "asset:created")["data"]["user_id"], 2);

        let failed = of(refused, "job:failed");
        assert!(failed.get("error").is_none() && failed.get("error_code").is_none());
        assert_eq!(failed["data"]["error_code"], "content_prompt_rejected");
        assert!(
            failed["data"]["error"]
                .as_str()
                .unwrap()
                .contains("pixverse")
        );
        assert!(
            events_of(&events, refused)
                .iter()
                .all(|e| e["type"] != "job:started"),
            "refused at submit"
        );

        let answer = api.generation(mine).await;
        assert_eq!(
            answer["account"],
            json!({"type": "account", "id": 1, "meta": null})
        );
        assert_eq!(answer["account_email"], "accountless+pixverse@pixsim.local");
        assert_eq!(answer["attempt_count"], 1);
        for key in ["wait_reason", "deferred_action"] {
            assert!(answer.as_object().unwrap().contains_key(key), "{key}");
            assert_eq!(answer[key], Value::Null);
        }
        let asset_id = answer["asset"]["id"].as_u64().unwrap();
        assert_eq!(
            api.get(&format!("/api/v1/assets/{asset_id}")).await.body["user_id"],
            1
        );
        let list = api.get("/api/v1/generations").await;
        assert_eq!(list.body["total"], 2, "the caller's own: {}", list.body);
        assert!(list.body["generations"][0].get("attempt_count").is_some());
    });

    // The contract's shapes by default.
    let dev = fast().spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let events = listen(&dev).await;
        let id = id_of(&api.create(&create_body("a harbor", "a", "b", "once")).await);
        until_event(&events, "job:completed", |e| e["type"] == "job:completed").await;
        let all = events_of(&events, id);
        assert_eq!(all[0]["status"], "pending");
        let asset = all.iter().find(|e| e["type"] == "asset:created").unwrap();
        assert_eq!(asset["media_type"], "image");
        assert!(api.generation(id).await.get("account").is_none());
    });
}

#[test]
fn scenes_report_remote_media_or_null() {
    let scene = json!({
        "id": 1, "title": "Park", "startNodeId": 10,
        "nodes": [
            {"id": 10, "type": "video", "label": "Bench", "assetId": "1", "meta": {}},
            {"id": 11, "type": "video", "label": "Confess", "assetId": 2,
             "mediaUrl": "/api/v1/assets/2/file", "meta": {}},
            {"id": "12", "type": "video", "label": "Leave", "meta": {}}
        ],
        "edges": [
            {"id": 7, "from": 10, "to": 11, "label": "Confess", "weight": 2.0,
             "conditions": {}, "effects": {}, "isDefault": true},
            {"id": "8", "from": "10", "to": "12", "label": "Leave"}
        ]
    });
    let dev = fast()
        .premade_asset(bevy_asset_provider::MediaKind::Image, ["loc:park"])
        .scene("park", scene.to_string())
        .scene_media(SceneMediaMode::RemoteOrNull)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        // The premade asset is 1; the first generated one is 2.
        let id = id_of(
            &api.create(&create_body("a bench", "10", "11", "once"))
                .await,
        );
        let done = api.until_status(id, "completed").await;
        assert_eq!(done["asset"]["id"], 2);
        let asset = api.get("/api/v1/assets/2").await.body;
        let remote = asset["remote_url"]
            .as_str()
            .expect("a remote url")
            .to_owned();
        assert!(
            remote.starts_with(&format!("{}/cdn/", dev.base_url())),
            "{remote}"
        );

        let served = api.get("/api/v1/game/scenes/park").await;
        assert_eq!(served.status, StatusCode::OK);
        let served = served.body;
        assert_eq!(
            (&served["id"], &served["startNodeId"]),
            (&json!("1"), &json!("10"))
        );
        let nodes = served["nodes"].as_array().unwrap();
        assert_eq!(nodes[0]["id"], "10");
        assert_eq!(
            nodes[0]["mediaUrl"],
            Value::Null,
            "a pre-made asset has no remote url"
        );
        assert_eq!(nodes[1]["mediaUrl"], json!(remote));
        assert_eq!(nodes[1]["media"][0]["url"], json!(remote));
        assert_eq!(nodes[2]["mediaUrl"], Value::Null);
        for edge in served["edges"].as_array().unwrap() {
            assert!(edge.get("weight").is_none(), "{edge}");
            for key in ["isDefault", "conditions", "effects"] {
                assert_eq!(edge[key], Value::Null, "{key}");
            }
            assert!(edge["id"].is_string() && edge["from"].is_string() && edge["to"].is_string());
        }

        // The CDN needs no token and serves the asset's bytes.
        let file = api.http.get(&remote).send().await.unwrap();
        assert_eq!(file.status(), StatusCode::OK);
        let bytes = file.bytes().await.unwrap();
        assert_eq!(json!(hex::encode(Sha256::digest(&bytes))), asset["sha256"]);
    });

    // The client reads the real shape as a scene graph.
    let source = crate::common::client(&dev).build().unwrap();
    let graph = block_on(bevy_asset_provider::scene::SceneGraph::from_backend(
        &source, "park",
    ))
    .expect("the scene parses");
    assert_eq!(graph.start_node().id, "10");
    assert_eq!(graph.choices("10").count(), 2);

    // By default the scene is served as written.
    let dev = fast().scene("park", scene.to_string()).spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let served = api.get("/api/v1/game/scenes/park").await.body;
        assert_eq!(served, scene);
        assert_eq!(api.get("/cdn/anything").await.status, StatusCode::NOT_FOUND);
    });
}

#[test]
fn the_real_service_profile_turns_everything_on() {
    let dev = DevBackend::like_real_service()
        .job_delays(Duration::from_millis(5), Duration::from_millis(20))
        .server_retry_delay(Duration::from_millis(10))
        .extra_account(OTHER)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let game = api
            .call(
                Method::POST,
                "/api/v1/game/assets/request",
                Some(&api.token),
                Some(&json!({"scene_id": "a"})),
            )
            .await;
        assert_eq!(game.status, StatusCode::NOT_FOUND);
        let numeric = with(
            create_body("a door", "a", "b", "once"),
            "from_scene",
            json!({"id": 5}),
        );
        assert_eq!(
            api.create(&numeric).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let nope = with(
            create_body("a cat", "a", "b", "once"),
            "provider_id",
            json!("nope"),
        );
        assert_eq!(
            api.create(&nope).await.status,
            StatusCode::INTERNAL_SERVER_ERROR
        );

        let first = id_of(
            &api.create(&create_body("a bench", "park", "bench", "once"))
                .await,
        );
        let done = api.until_status(first, "completed").await;
        assert_eq!(done["attempt_count"], 1);
        let theirs = id_of(
            &api.create_as(OTHER, &create_body("a lake", "park", "bench", "once"))
                .await,
        );
        assert_eq!(theirs, first, "global dedup by the real cache key");
        let read = api
            .get_as(OTHER, &format!("/api/v1/generations/{first}"))
            .await;
        assert_eq!(read.status, StatusCode::INTERNAL_SERVER_ERROR);

        let refused = id_of(
            &api.create(&create_body("forbidden", "a", "b", "always"))
                .await,
        );
        let failed = api.until_status(refused, "failed").await;
        assert_eq!(failed["error_code"], "content_prompt_rejected");
        let moderated = id_of(
            &api.create(&create_body("moderated", "a", "b", "always"))
                .await,
        );
        let failed = api
            .until(moderated, "the last retry's failure", |g| {
                g["status"] == "failed" && g["retry_count"] == 3
            })
            .await;
        assert_eq!(failed["error_code"], "content_render_moderated");
        let cancel = api
            .call(
                Method::POST,
                &format!("/api/v1/generations/{first}/cancel"),
                Some(&api.token),
                None,
            )
            .await;
        assert_eq!(cancel.status, StatusCode::CONFLICT);
    });
    let generation = dev.generation("1").expect("generation 1");
    assert_eq!(generation.final_prompt.as_deref(), Some("a bench"));
    assert!(dev.generation("999").is_none());
    assert_eq!(dev.stats().reused, 1);
}

#[test]
fn the_client_gets_media_from_the_real_service_profile() {
    use bevy_asset_provider::prelude::*;
    use bevy_asset_provider::source::SourceKind;
    let dev = DevBackend::like_real_service()
        .job_delays(Duration::from_millis(5), Duration::from_millis(20))
        .spawn()
        .unwrap();
    let source = crate::common::client(&dev)
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    let mut app = crate::common::headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source)
            .with_default_timeout(Duration::from_secs(15)),
    );
    app.update();
    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().scene("park").prompt("a park at dusk"))
        .id();
    crate::common::until_status(&mut app, entity, TaskStatus::Completed);
    assert_eq!(
        crate::common::task(&app, entity).source(),
        Some(SourceKind::Generated)
    );
}
