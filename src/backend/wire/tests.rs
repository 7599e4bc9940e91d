use super::*;
use crate::request::{AssetRequest, CachingStrategy, GenerationPurpose, MediaKind, PlaySession};
use serde_json::json;
use std::time::Duration;

#[test]
fn create_body_follows_the_contract() {
    let request = AssetRequest::image()
        .scene("romance_5")
        .to_scene("romance_6")
        .choice("confess")
        .prompt("a quiet park at dusk")
        .strategy(CachingStrategy::PerPlaythrough)
        .purpose(GenerationPurpose::GapFill)
        .style(json!({"pacing": "medium", "pixverse": {"aspect_ratio": "16:9"}}))
        .duration_secs(5.0)
        .max_wait(Duration::from_secs(30))
        .priority(7)
        .seed(42);
    let session = PlaySession::new("pt-1", "p-7");
    let key = request.fingerprint(&session);
    let body = CreateGeneration::from_request(
        &request,
        &key,
        &session,
        "pixverse",
        GenerationType::TextToImage,
        1,
    );
    let value = serde_json::to_value(&body).unwrap();
    assert_eq!(
        value,
        json!({
            "provider_id": "pixverse",
            "config": {
                "generationType": "text_to_image",
                "purpose": "gap_fill",
                "strategy": "per_playthrough",
                "prompt": "a quiet park at dusk",
                "style": {"pacing": "medium", "pixverse": {"seed": 42, "aspect_ratio": "16:9"}},
                "duration": {"target": 5.0},
                "constraints": {},
                "fallback": {"mode": "placeholder", "timeoutMs": 30000},
                "version": 1
            },
            "from_scene": {"id": "romance_5"},
            "to_scene": {"id": "romance_6"},
            "player_context": {"playthroughId": "pt-1", "playerId": "p-7"},
            "name": "romance_5/confess",
            "priority": 7,
            "force_new": true
        })
    );
    assert_eq!(
        body.cache_key().as_deref(),
        Some("generation:text_to_image|gap_fill|romance_5|romance_6|per_playthrough|pt:pt-1|v1")
    );
}

#[test]
fn create_body_without_cache_wish_forces_new_and_derives_a_seed() {
    let request = AssetRequest::video()
        .prompt("waves")
        .prefer_cached(false)
        .strategy(CachingStrategy::Always);
    let session = PlaySession::default();
    let key = request.fingerprint(&session);
    let body = CreateGeneration::from_request(
        &request,
        &key,
        &session,
        "sora",
        GenerationType::TextToVideo,
        9,
    );
    assert!(body.force_new);
    assert_eq!(body.config.fallback.as_ref().unwrap().timeout_ms, Some(9));
    let seed = body.config.seed("sora").expect("a derived seed");
    assert!(seed <= DERIVED_SEED_MASK);
    assert_eq!(body.config.duration, json!({}));
    assert_eq!(body.cache_key(), None, "`always` is never cached");
    assert_eq!(body.from_scene, None);
    // The same request derives the same seed.
    let again = CreateGeneration::from_request(
        &request,
        &key,
        &session,
        "sora",
        GenerationType::TextToVideo,
        9,
    );
    assert_eq!(again.config.seed("sora"), Some(seed));
}

#[test]
fn operation_types_by_media_kind() {
    assert_eq!(
        GenerationType::for_kind(MediaKind::Image),
        Some(GenerationType::TextToImage)
    );
    assert_eq!(
        GenerationType::for_kind(MediaKind::Video),
        Some(GenerationType::TextToVideo)
    );
    assert_eq!(GenerationType::for_kind(MediaKind::Audio), None);
}

#[test]
fn generation_reads_tolerantly() {
    let text = r#"{"id": 123, "status": "processing", "operation_type": "text_to_image",
        "provider_id": "pixverse", "asset": null, "reproducible_hash": "9f2c",
        "error_message": null, "error_code": null, "retry_count": 0, "priority": 5,
        "created_at": "2026-11-21T10:00:00Z", "started_at": null, "completed_at": null,
        "account_id": 9, "params": {"deep": [1, 2]}}"#;
    let generation: GenerationResponse = serde_json::from_str(text).unwrap();
    assert_eq!(generation.id, BackendId::from(123));
    assert_eq!(generation.status, GenerationStatus::Processing);
    assert!(!generation.status.is_terminal());

    let odd = r#"{"id": "abc", "status": "queued_at_provider"}"#;
    let generation: GenerationResponse = serde_json::from_str(odd).unwrap();
    assert_eq!(generation.id.as_str(), "abc");
    assert_eq!(generation.status, GenerationStatus::Unknown);
    assert_eq!(generation.asset, None);

    let done = r#"{"id": 5, "status": "completed",
        "asset": {"type": "asset", "id": "456", "meta": {"x": 1}, "extra": true}}"#;
    let generation: GenerationResponse = serde_json::from_str(done).unwrap();
    assert_eq!(generation.asset.unwrap().id, BackendId::from(456));

    let numeric_status = r#"{"id": 5, "status": 3}"#;
    let generation: GenerationResponse = serde_json::from_str(numeric_status).unwrap();
    assert_eq!(generation.status, GenerationStatus::Unknown);
}

#[test]
fn ids_serialize_as_numbers_when_numeric() {
    assert_eq!(serde_json::to_string(&BackendId::from(7)).unwrap(), "7");
    assert_eq!(
        serde_json::to_string(&BackendId::from("lighthouse")).unwrap(),
        "\"lighthouse\""
    );
    assert!(serde_json::from_str::<BackendId>("\"\"").is_err());
    assert!(serde_json::from_str::<BackendId>("1.5").is_err());
}

#[test]
fn asset_reads_tolerantly() {
    let text = r#"{"id": 456, "media_type": "image", "mime_type": "image/png",
        "sha256": "ab", "file_size_bytes": 10, "width": 64, "height": 36,
        "duration_sec": null, "file_url": "/api/v1/assets/456/file", "tags": [
          {"slug": "loc:park", "namespace": "loc", "name": "park", "id": 3}],
        "source_generation_id": "123", "provider_status": "ok"}"#;
    let asset: AssetResponse = serde_json::from_str(text).unwrap();
    assert_eq!(asset.id, Some(BackendId::from(456)));
    assert_eq!(asset.tag_slugs(), vec!["loc:park".to_owned()]);
    assert_eq!(asset.source_generation_id, Some(BackendId::from(123)));

    let sparse: AssetResponse = serde_json::from_str(r#"{"id": 1, "tags": null}"#).unwrap();
    assert!(sparse.tags.is_empty());
    assert_eq!(sparse.file_url, None);
}

#[test]
fn error_bodies_summarise_everything_they_say() {
    let text = r#"{"code": "validation_error", "message": "Invalid request",
        "detail": "config.prompt is required", "fields": [{"loc": ["config", "prompt"]}]}"#;
    let body: ErrorBody = serde_json::from_str(text).unwrap();
    let summary = body.summary();
    assert!(summary.contains("Invalid request"), "{summary}");
    assert!(summary.contains("config.prompt is required"), "{summary}");
    assert!(summary.contains("validation_error"), "{summary}");
    assert!(summary.contains("prompt"), "{summary}");
    let fastapi: ErrorBody =
        serde_json::from_str(r#"{"detail": [{"msg": "field required"}]}"#).unwrap();
    assert!(fastapi.summary().contains("field required"));
}

#[test]
fn socket_events_name_their_generation() {
    let completed: SocketEvent = serde_json::from_str(
        r#"{"type": "job:completed", "generation_id": 123, "status": "completed",
            "data": {}, "timestamp": "t", "user_id": 4}"#,
    )
    .unwrap();
    assert_eq!(completed.generation(), Some(BackendId::from(123)));
    let asset: SocketEvent = serde_json::from_str(
        r#"{"type": "asset:created", "asset_id": 456, "media_type": "image",
            "data": {"generation_id": "123"}}"#,
    )
    .unwrap();
    assert_eq!(asset.generation(), Some(BackendId::from(123)));
    assert_eq!(asset.asset_id, Some(BackendId::from(456)));
}

#[test]
fn scene_ids_are_sent_as_strings_even_when_numeric() {
    let request = AssetRequest::image().scene("5").to_scene("6").prompt("x");
    let session = PlaySession::new("pt", "p");
    let key = request.fingerprint(&session);
    let body = CreateGeneration::from_request(
        &request,
        &key,
        &session,
        "pixverse",
        GenerationType::TextToImage,
        1,
    );
    let value = serde_json::to_value(&body).unwrap();
    assert_eq!(value["from_scene"], json!({"id": "5"}));
    assert_eq!(value["to_scene"], json!({"id": "6"}));
    // A shared request lets the server share: no player context, no force_new.
    assert_eq!(value.get("player_context"), None);
    assert_eq!(value["force_new"], json!(false));
    // Read tolerantly.
    let scene: SceneRef = serde_json::from_str(r#"{"id": 5}"#).unwrap();
    assert_eq!(scene.id, "5");
}

#[test]
fn the_real_services_null_fields_in_events_are_tolerated() {
    let created: SocketEvent = serde_json::from_str(
        r#"{"type":"job:created","generation_id":2,"status":null,"user_id":1,
            "data":{"job_id":2,"generation_id":2},"timestamp":"t"}"#,
    )
    .unwrap();
    assert_eq!(created.status, None);
    assert_eq!(created.generation(), Some(BackendId::from(2)));
    let asset: SocketEvent = serde_json::from_str(
        r#"{"type":"asset:created","asset_id":2,"user_id":1,"media_type":null,
            "data":{"asset_id":2,"generation_id":2,"job_id":2}}"#,
    )
    .unwrap();
    assert_eq!(asset.media_type, None);
    assert_eq!(asset.generation(), Some(BackendId::from(2)));
    let failed: SocketEvent = serde_json::from_str(
        r#"{"type":"job:failed","generation_id":12,"status":"failed","user_id":1,
            "data":{"error":"filtered","error_code":"content_prompt_rejected"}}"#,
    )
    .unwrap();
    assert_eq!(failed.status, Some(GenerationStatus::Failed));
}

#[test]
fn wire_enums_read_known_and_unknown_names() {
    let operations = [
        GenerationType::TextToImage,
        GenerationType::TextToVideo,
        GenerationType::ImageToVideo,
        GenerationType::ImageToImage,
        GenerationType::VideoExtend,
        GenerationType::VideoTransition,
        GenerationType::Fusion,
        GenerationType::VideoModify,
        GenerationType::TextToAudio,
    ];
    for operation in operations {
        let name = operation.as_str();
        assert_eq!(serde_json::to_value(&operation).unwrap(), json!(name));
        assert_eq!(
            serde_json::from_value::<GenerationType>(json!(name)).unwrap(),
            operation
        );
        assert_eq!(GenerationType::from(name), operation);
    }
    for purpose in [
        GenerationPurpose::GapFill,
        GenerationPurpose::Variation,
        GenerationPurpose::Adaptive,
        GenerationPurpose::Ambient,
    ] {
        let wire = Purpose::from(purpose);
        assert_eq!(wire.as_str(), purpose.as_str());
        assert_eq!(
            serde_json::to_value(&wire).unwrap(),
            json!(purpose.as_str())
        );
        assert_eq!(Purpose::from(purpose.as_str()), wire);
    }
    for strategy in [
        CachingStrategy::Once,
        CachingStrategy::PerPlaythrough,
        CachingStrategy::PerPlayer,
        CachingStrategy::Always,
    ] {
        let wire = Strategy::from(strategy);
        assert_eq!(wire.as_str(), strategy.as_str());
        assert_eq!(
            serde_json::to_value(&wire).unwrap(),
            json!(strategy.as_str())
        );
        assert_eq!(Strategy::from(strategy.as_str()).caching(), Some(strategy));
    }
    let odd: GenerationType = serde_json::from_str(r#""text_to_hologram""#).unwrap();
    assert_eq!(odd, GenerationType::Unknown("text_to_hologram".to_owned()));
    assert_eq!(
        serde_json::to_string(&odd).unwrap(),
        r#""text_to_hologram""#
    );
    assert_eq!(Strategy::from("forever").caching(), None);
    assert_eq!(Purpose::from(""), Purpose::Unknown(String::new()));
    assert!(serde_json::from_str::<Purpose>("3").is_err());
}

#[test]
fn canonical_json_sorts_keys_and_escapes_as_asked() {
    let value = json!({"b": [1, {"z": null, "a": "é\n\u{1}"}], "a": "x\u{7f}😀\"\\",
        "seed": 1.5});
    // Python's json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=...).
    assert_eq!(
        canonical_json(&value, NonAscii::Escape),
        r#"{"a":"x\u007f\ud83d\ude00\"\\","b":[1,{"a":"\u00e9\n\u0001","z":null}],"seed":1.5}"#
    );
    assert_eq!(
        canonical_json(&value, NonAscii::Keep),
        "{\"a\":\"x\u{7f}😀\\\"\\\\\",\"b\":[1,{\"a\":\"é\\n\\u0001\",\"z\":null}],\"seed\":1.5}"
    );
}

#[test]
fn secrets_stay_out_of_debug() {
    let login = LoginRequest {
        email: Some("dev@example.com".into()),
        username: None,
        password: "hunter2".into(),
    };
    assert!(!format!("{login:?}").contains("hunter2"));
    let answer = LoginResponse {
        access_token: "tok-123".into(),
        token_type: Some("bearer".into()),
        user: None,
    };
    assert!(!format!("{answer:?}").contains("tok-123"));
}
