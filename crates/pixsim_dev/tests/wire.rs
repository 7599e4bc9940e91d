//! The dev backend speaks the wire format of `bevy_asset_provider::backend::wire`: creates are
//! checked through its typed enums, hashes are Python's JSON from the shared canonical writer,
//! times are RFC 3339, and injected faults repeat with their seed. Over loopback HTTP.

use std::future::Future;
use std::time::Duration;

use pixsim_dev::{DevBackend, DevBackendBuilder, Endpoint};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

fn fast() -> DevBackendBuilder {
    DevBackend::builder().job_delays(Duration::from_millis(5), Duration::from_millis(20))
}

/// Posts `body` to `path` with the backend's token.
async fn post(dev: &DevBackend, path: &str, body: &Value) -> (StatusCode, Value) {
    // The client's reqwest is built for rustls without a provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .post(format!("{}{path}", dev.base_url()))
        .bearer_auth(dev.token())
        .json(body)
        .send()
        .await
        .expect("the dev backend answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn create(operation: &str, prompt: &str) -> Value {
    json!({
        "provider_id": "pixverse",
        "config": {
            "generationType": operation,
            "purpose": "gap_fill",
            "strategy": "once",
            "prompt": prompt,
            "style": {"pixverse": {"seed": 42}},
            "duration": {},
            "constraints": {},
            "fallback": {"mode": "placeholder", "timeoutMs": 30000},
            "version": 1
        }
    })
}

/// The field a 422 names, and its text.
fn refusal(body: &Value) -> (String, String) {
    let field = &body["fields"][0];
    let name = field["field"].as_str().map(str::to_owned);
    let name = name.unwrap_or_else(|| field["loc"].to_string());
    let text = field["message"].as_str().or(field["msg"].as_str());
    (name, text.unwrap_or_default().to_owned())
}

#[test]
fn creates_are_checked_by_their_typed_fields() {
    let dev = fast().spawn().expect("a loopback port");
    block_on(async {
        let (status, body) = post(
            &dev,
            "/api/v1/generations",
            &create("text_to_hologram", "x"),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (field, text) = refusal(&body);
        assert_eq!(field, "config.generationType");
        assert!(text.contains("text_to_hologram"), "{text}");

        // In the real service's schema, not in the contract.
        let (status, _) = post(&dev, "/api/v1/generations", &create("video_modify", "x")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        let (status, body) = post(&dev, "/api/v1/generations", &create("text_to_image", " ")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refusal(&body).0, "config.prompt");

        let mut odd = create("text_to_image", "x");
        odd["config"]["purpose"] = json!("gossip");
        let (status, body) = post(&dev, "/api/v1/generations", &odd).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refusal(&body).0, "config.purpose");

        let mut odd = create("text_to_image", "x");
        odd["config"]["strategy"] = json!("forever");
        let (status, body) = post(&dev, "/api/v1/generations", &odd).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refusal(&body).0, "config.strategy");

        // Not a PixSim7 operation, but served here for clients that name an audio operation.
        let (status, body) = post(
            &dev,
            "/api/v1/generations",
            &create("text_to_audio", "a chime"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["operation_type"], json!("text_to_audio"));
    });

    let real = DevBackend::like_real_service()
        .spawn()
        .expect("a loopback port");
    block_on(async {
        let (status, body) =
            post(&real, "/api/v1/generations", &create("text_to_audio", "x")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (field, text) = refusal(&body);
        assert_eq!(field, r#"["body","config","generationType"]"#);
        assert!(
            text.ends_with(
                "Must be one of: ['fusion', 'image_to_image', 'image_to_video', 'text_to_image', \
                 'text_to_video', 'video_extend', 'video_modify', 'video_transition']"
            ),
            "{text}"
        );
        let (status, body) = post(&real, "/api/v1/generations", &create("video_modify", "x")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    });
}

#[test]
fn the_reproducible_hash_is_pythons_json_of_the_seedless_params() {
    let dev = fast().spawn().expect("a loopback port");
    let (status, body) = block_on(post(
        &dev,
        "/api/v1/generations",
        &create("text_to_image", "café ☕ at dusk"),
    ));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // hashlib.sha256(json.dumps({"canonical_params": {"provider_id": ..., "operation_type":
    // ..., "config": <the config without its seed>}, "inputs": []}, sort_keys=True,
    // separators=(",", ":"), ensure_ascii=True).encode()).hexdigest(), from Python 3.
    assert_eq!(
        body["reproducible_hash"],
        json!("057d38afd7d34a61112fc5172d58e930a7d953d871d9d080aeddd44c047121e5")
    );
    // RFC 3339 UTC to the second: `2026-11-21T10:00:00Z`.
    let created = body["created_at"].as_str().expect("a creation time");
    let shape: String = created
        .chars()
        .map(|c| if c.is_ascii_digit() { '0' } else { c })
        .collect();
    assert_eq!(shape, "0000-00-00T00:00:00Z", "{created}");
}

#[test]
fn injected_faults_repeat_with_their_seed() {
    let outcomes = |seed: u64| {
        let dev = fast()
            .error_rate(Endpoint::Search, 0.5)
            .seed(seed)
            .spawn()
            .expect("a loopback port");
        block_on(async {
            let mut failed = Vec::new();
            for _ in 0..24 {
                let (status, _) = post(&dev, "/api/v1/assets/search", &json!({})).await;
                failed.push(status == StatusCode::INTERNAL_SERVER_ERROR);
            }
            failed
        })
    };
    let first = outcomes(7);
    assert_eq!(first, outcomes(7));
    assert!(first.contains(&true) && first.contains(&false), "{first:?}");
    assert_ne!(first, outcomes(8));
}
