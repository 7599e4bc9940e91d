//! Property tests of what the client reads from the backend: JSON answers, WebSocket frames,
//! rate-limit waits and URLs to scrub. Whatever arrives, nothing panics, and bad input becomes an
//! error or is skipped.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::backend::answers::try_again_in;
use crate::backend::created::reuse_check;
use crate::backend::wire::{
    AssetResponse, AssetSearchResponse, CreateGeneration, ErrorBody, GameAssetResponse,
    GenerationList, GenerationResponse, GenerationType, LoginResponse, NonAscii, SocketEvent,
    canonical_json,
};
use crate::error::without_url_secrets;
use crate::request::AssetRequest;
use crate::request::PlaySession;

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A valid answer with one field (at any depth of the top level) replaced by any value.
fn mutated(valid: Value) -> impl Strategy<Value = Value> {
    let keys: Vec<String> = valid
        .as_object()
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default();
    (0..keys.len().max(1), json_value()).prop_map(move |(at, replacement)| {
        let mut value = valid.clone();
        if let (Some(map), Some(key)) = (value.as_object_mut(), keys.get(at)) {
            map.insert(key.clone(), replacement);
        }
        value
    })
}

fn generation() -> Value {
    json!({"id": 10, "user": {"type": "user", "id": 1, "meta": null},
        "operation_type": "text_to_image", "provider_id": "pixverse",
        "canonical_params": {"seed": 42, "prompt": "a park",
            "scene_context": {"from_scene": {"id": "5"}, "to_scene": null},
            "player_context": null},
        "reproducible_hash": "99", "final_prompt": "a park", "status": "completed",
        "priority": 5, "error_message": null, "error_code": null, "retry_count": 0,
        "deferred_action": null, "asset": {"type": "asset", "id": 9, "meta": null},
        "name": "5/6 [bap-1]", "created_at": "2026-11-30T02:43:54Z"})
}

/// Every answer type read from a body; none may panic.
fn read_all(bytes: &[u8]) {
    let _ = serde_json::from_slice::<GenerationResponse>(bytes);
    let _ = serde_json::from_slice::<GenerationList>(bytes);
    let _ = serde_json::from_slice::<AssetResponse>(bytes);
    let _ = serde_json::from_slice::<AssetSearchResponse>(bytes);
    let _ = serde_json::from_slice::<GameAssetResponse>(bytes);
    let _ = serde_json::from_slice::<LoginResponse>(bytes);
    if let Ok(error) = serde_json::from_slice::<ErrorBody>(bytes) {
        let _ = error.summary();
    }
    if let Ok(event) = serde_json::from_slice::<SocketEvent>(bytes) {
        let _ = event.generation();
    }
    let _ = try_again_in(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_are_read_without_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        read_all(&bytes);
    }

    #[test]
    fn any_json_is_read_without_a_panic(value in json_value()) {
        read_all(value.to_string().as_bytes());
    }

    #[test]
    fn a_generation_with_any_field_changed_is_read_or_refused(value in mutated(generation())) {
        let text = value.to_string();
        read_all(text.as_bytes());
        if let Ok(got) = serde_json::from_str::<GenerationResponse>(&text) {
            // Whatever the server claims, checking it against a request never panics.
            let request = AssetRequest::image().scene("5").prompt("a park").seed(42);
            let session = PlaySession::default();
            let key = request.fingerprint(&session);
            let sent = CreateGeneration::from_request(
                &request, &key, &session, "pixverse", GenerationType::TextToImage, 1,
            );
            let _ = reuse_check(&sent, &got);
        }
    }

    #[test]
    fn socket_frames_with_any_field_changed_are_read_or_skipped(value in mutated(json!({
        "type": "job:completed", "generation_id": 123, "status": "completed",
        "data": {"generation_id": 123}, "asset_id": 4, "media_type": null,
        "timestamp": "t", "user_id": 1}))) {
        read_all(value.to_string().as_bytes());
    }

    #[test]
    fn canonical_strings_are_serde_jsons_or_ascii(text in any::<String>()) {
        // Request keys hash this form: it must stay byte-identical to serde_json's.
        let kept = canonical_json(&Value::String(text.clone()), NonAscii::Keep);
        prop_assert_eq!(&kept, &serde_json::to_string(&text).unwrap());
        let escaped = canonical_json(&Value::String(text.clone()), NonAscii::Escape);
        prop_assert!(escaped.bytes().all(|b| (b' '..=b'~').contains(&b)), "{}", escaped);
        prop_assert_eq!(serde_json::from_str::<String>(&escaped).unwrap(), text);
    }

    #[test]
    fn scrubbed_text_keeps_no_query_or_userinfo(
        user in "[a-z]{1,8}", secret in "[A-Za-z0-9]{6,16}", path in "[a-z/]{0,12}",
        before in ".{0,20}", after in "[^?#]{0,20}",
    ) {
        let text = format!(
            "{before} https://{user}:{secret}@cdn.example/{path}?token={secret} {after}"
        );
        let scrubbed = without_url_secrets(&text);
        prop_assert!(!scrubbed.contains(&format!("{secret}@")), "{}", scrubbed);
        prop_assert!(!scrubbed.contains(&format!("token={secret}")), "{}", scrubbed);
    }
}
