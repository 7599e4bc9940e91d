//! The request key must never drift: caches on disk and jobs in flight are found by it.

use std::time::Duration;

use bevy_asset_provider::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

fn session() -> PlaySession {
    PlaySession::new("pt-1", "p-7")
}

#[test]
fn canonical_json_sorts_keys_and_leaves_out_what_is_absent() {
    assert_eq!(
        AssetRequest::image().canonical_json(&session()),
        r#"{"kind":"image","purpose":"gap_fill","strategy":"once","v":1}"#
    );
    let full = AssetRequest::image()
        .scene("romance_5")
        .choice("confess")
        .to_scene("romance_6")
        .character("npc:anne")
        .location("park")
        .prompt("a quiet park at dusk, “two” figures")
        .style(json!({"pixverse": {"seed": 42, "aspect_ratio": "16:9"}, "pacing": "medium"}))
        .duration_secs(5.0)
        .tags(["role:bg", "cam:wide", "role:bg"])
        .strategy(CachingStrategy::PerPlaythrough)
        .seed(42);
    assert_eq!(
        full.canonical_json(&session()),
        concat!(
            r#"{"character":"npc:anne","choice":"confess","duration":5.0,"kind":"image","#,
            r#""location":"park","prompt":"a quiet park at dusk, “two” figures","#,
            r#""purpose":"gap_fill","scene":"romance_5","scope":"pt:pt-1","seed":42,"#,
            r#""strategy":"per_playthrough","style":{"pacing":"medium","pixverse":"#,
            r#"{"aspect_ratio":"16:9","seed":42}},"tags":["cam:wide","role:bg"],"#,
            r#""to_scene":"romance_6","v":1}"#
        )
    );
}

#[test]
fn the_key_is_sha256_of_the_canonical_json() {
    let request = AssetRequest::audio().scene("harbor").prompt("gulls");
    let expected: [u8; 32] = Sha256::digest(request.canonical_json(&session()).as_bytes()).into();
    assert_eq!(request.fingerprint(&session()).0, expected);
}

#[test]
fn golden_keys() {
    let cases = [
        (AssetRequest::image(), GOLDEN[0]),
        (
            AssetRequest::image()
                .scene("romance_5")
                .choice("confess")
                .prompt("a quiet park at dusk, two figures on a bench")
                .seed(42),
            GOLDEN[1],
        ),
        (
            AssetRequest::audio()
                .scene("harbor")
                .strategy(CachingStrategy::PerPlayer),
            GOLDEN[2],
        ),
        (
            AssetRequest::image()
                .location("park")
                .tags(["role:bg"])
                .strategy(CachingStrategy::PerPlaythrough),
            GOLDEN[3],
        ),
    ];
    for (i, (request, golden)) in cases.into_iter().enumerate() {
        assert_eq!(request.fingerprint(&session()).to_hex(), golden, "case {i}");
    }
}

/// Computed independently (Python's json.dumps with sorted keys and compact separators, then
/// SHA-256). Never change these: a change orphans every cached result.
const GOLDEN: [&str; 4] = [
    "bdff1aa0d26de9f72f62d9e91d5d3836e8cf6e01ed8b02f1d0931315d1eba162",
    "29d2ae795d6952444917d507ebf6d30ac983bc59dcae356fd9936b3970cd5205",
    "e076fb3a8e53d7326f3a98dbb5d751445282ada94f5ca2ac2471a639b4254826",
    "80aa1ad238890e1bb4adc57a4bdb3e4a9bcdb424edfdd30b7fab52b3f1ceb545",
];

#[test]
fn how_media_is_fetched_is_not_part_of_the_key() {
    let base = AssetRequest::image().scene("a").prompt("p");
    let key = base.fingerprint(&session());
    for variant in [
        base.clone().priority(9),
        base.clone().max_wait(Duration::from_secs(1)),
        base.clone().allow_generation(false),
        base.clone().prefer_cached(false),
    ] {
        assert_eq!(variant.fingerprint(&session()), key);
    }
    for different in [
        base.clone().seed(1),
        base.clone().choice("c"),
        base.clone().tag("role:bg"),
        AssetRequest::audio().scene("a").prompt("p"),
        base.clone().prompt("q"),
    ] {
        assert_ne!(different.fingerprint(&session()), key);
    }
}

#[test]
fn tag_order_and_duplicates_do_not_change_the_key() {
    let a = AssetRequest::image().tags(["b", "a", "a"]);
    let b = AssetRequest::image().tags(["a", "b"]);
    assert_eq!(a.fingerprint(&session()), b.fingerprint(&session()));
}

#[test]
fn strategies_have_the_backend_ttls_and_scopes() {
    const DAY: u64 = 86_400;
    assert_eq!(
        CachingStrategy::Once.ttl(),
        Some(Duration::from_secs(365 * DAY))
    );
    assert_eq!(
        CachingStrategy::PerPlaythrough.ttl(),
        Some(Duration::from_secs(90 * DAY))
    );
    assert_eq!(
        CachingStrategy::PerPlayer.ttl(),
        Some(Duration::from_secs(180 * DAY))
    );
    assert_eq!(CachingStrategy::Always.ttl(), None);
    assert!(!CachingStrategy::Always.is_cacheable());
    assert!(
        !AssetRequest::image()
            .strategy(CachingStrategy::Always)
            .is_cacheable()
    );
    assert!(!AssetRequest::image().prefer_cached(false).is_cacheable());
    assert_eq!(CachingStrategy::Once.scope(&session()), None);
    assert_eq!(
        CachingStrategy::PerPlaythrough.scope(&session()).as_deref(),
        Some("pt:pt-1")
    );
    assert_eq!(
        CachingStrategy::PerPlayer.scope(&session()).as_deref(),
        Some("player:p-7")
    );
}
