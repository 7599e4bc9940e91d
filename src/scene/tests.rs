use super::*;
use crate::error::AssetError;
use crate::request::{AssetRequest, CachingStrategy, MediaKind, PlaySession};
use serde_json::Value;

const STORY: &str = r#"{
    "id": "story", "title": "Story", "startNodeId": "a",
    "nodes": [
        { "id": "a", "type": "image", "label": "Start", "assetId": "start_png" },
        { "id": "b", "type": "image", "label": "Crossroads" },
        { "id": "c", "type": "image", "label": "End",
          "meta": { "prompt": "a painted ending", "location": "sea", "character": "mira",
                    "tags": ["role:bg"], "strategy": "per_player", "seed": 7,
                    "cue": "waves" } }
    ],
    "edges": [
        { "id": "ab", "from": "a", "to": "b", "label": "Go" },
        { "id": "bc1", "from": "b", "to": "c", "label": "Left", "weight": 0.6 },
        { "id": "bc2", "from": "b", "to": "c", "label": "Right", "weight": 0.4 }
    ]
}"#;

fn story() -> SceneGraph {
    SceneGraph::from_json(STORY.as_bytes(), "story.scene.json").unwrap()
}

fn error_for(json: &str) -> SceneGraphError {
    SceneGraph::from_json(json.as_bytes(), "x.scene.json").unwrap_err()
}

#[test]
fn lookups_and_choices_in_file_order() {
    let graph = story();
    assert_eq!(graph.start_node().id, "a");
    assert_eq!(graph.edge("bc2").unwrap().label, "Right");
    assert!(graph.node("zzz").is_none());
    let choices: Vec<_> = graph.choices("b").map(|e| e.id.as_str()).collect();
    assert_eq!(choices, ["bc1", "bc2"]);
    assert_eq!(graph.choices("c").count(), 0);
}

#[test]
fn same_node_via_same_edge_gives_equal_requests() {
    let graph = story();
    let session = PlaySession::default();
    let edge = graph.edge("bc1").unwrap();
    let first = graph.node_media("c", Some(edge));
    let second = graph.node_media("c", Some(edge));
    assert_eq!(first, second);
    let keys = |requests: &[AssetRequest]| {
        requests
            .iter()
            .map(|r| r.fingerprint(&session))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&first), keys(&second));
}

#[test]
fn different_edges_or_direct_entry_give_different_requests() {
    let graph = story();
    let session = PlaySession::default();
    let left = graph.node_media("c", graph.edge("bc1"));
    let right = graph.node_media("c", graph.edge("bc2"));
    let direct = graph.node_media("c", None);
    for (a, b) in [(&left, &right), (&left, &direct), (&right, &direct)] {
        assert_ne!(a, b);
        for (x, y) in a.iter().zip(b.iter()) {
            assert_ne!(x.fingerprint(&session), y.fingerprint(&session));
        }
    }
    assert_eq!(direct[0].scene_id.as_deref(), Some("c"));
    assert_eq!(direct[0].choice_id, None);
}

#[test]
fn node_meta_becomes_request_context() {
    let graph = story();
    let requests = graph.node_media("c", graph.edge("bc1"));
    let [image, sound] = requests.as_slice() else {
        panic!("expected an image and a sound: {requests:?}");
    };
    let expected = AssetRequest::image()
        .scene("b")
        .choice("bc1")
        .to_scene("c")
        .location("sea")
        .character("mira")
        .tags(["role:bg", "scene:story"])
        .strategy(CachingStrategy::PerPlayer)
        .seed(7)
        .prompt("a painted ending");
    assert_eq!(image, &expected);
    let expected_sound = AssetRequest {
        kind: MediaKind::Audio,
        prompt: Some("waves".into()),
        ..expected
    };
    assert_eq!(sound, &expected_sound);
}

#[test]
fn video_nodes_ask_for_clips_when_video_can_play() {
    let json = r#"{"id": "park", "startNodeId": "v", "nodes": [
        {"id": "v", "type": "video", "label": "Bench", "meta": {"cue": "birds"}},
        {"id": "i", "type": "image", "label": "Gate"}, {"id": "u", "label": "Pond"}]}"#;
    let graph = SceneGraph::from_json(json.as_bytes(), "park.scene.json").unwrap();
    let clip = if cfg!(feature = "video") {
        MediaKind::Video
    } else {
        MediaKind::Image
    };
    let kinds = |node: &str| -> Vec<MediaKind> {
        graph
            .node_media(node, None)
            .iter()
            .map(|r| r.kind)
            .collect()
    };
    assert_eq!(kinds("v"), [clip, MediaKind::Audio]);
    assert_eq!(kinds("i"), [MediaKind::Image]);
    assert_eq!(kinds("u"), [MediaKind::Image]);
}

#[test]
fn premade_nodes_ask_by_asset_id_whatever_the_way_in() {
    let graph = story();
    let direct = graph.node_media("a", None);
    let expected = AssetRequest::image()
        .asset_id("start_png")
        .scene("a")
        .tag("scene:story")
        .prompt("Start");
    assert_eq!(direct, [expected]);
    let back = SceneEdge {
        id: "ba".into(),
        from: "b".into(),
        to: "a".into(),
        label: String::new(),
        weight: 1.0,
        conditions: Value::Null,
        effects: Value::Null,
        is_default: None,
    };
    assert_eq!(graph.node_media("a", Some(&back)), direct);
    assert!(graph.node_media("missing", None).is_empty());
}

#[test]
fn validation_errors_name_the_field() {
    let cases = [
        (
            r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a"},{"id":"a"}]}"#,
            "nodes[1].id",
            r#"duplicate node id "a" (first at nodes[0])"#,
        ),
        (
            r#"{"id":1,"startNodeId":"z","nodes":[{"id":"a"}]}"#,
            "startNodeId",
            r#"no node "z""#,
        ),
        (
            r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a"}],
               "edges":[{"id":1,"from":"q","to":"a"}]}"#,
            "edges[0].from",
            r#"no node "q""#,
        ),
        (
            r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a"}],
               "edges":[{"id":1,"from":"a","to":"a"},{"id":"1","from":"a","to":"a"}]}"#,
            "edges[1].id",
            r#"duplicate edge id "1" (first at edges[0])"#,
        ),
        (
            r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a"}],
               "edges":[{"id":1,"from":"a","to":"a","weight":-0.5}]}"#,
            "edges[0].weight",
            "must be a finite number ≥ 0, got -0.5",
        ),
        (
            r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a"}],
               "edges":[{"id":1,"from":"a","to":"a","weight":1e300}]}"#,
            "edges[0].weight",
            "must be a finite number ≥ 0, got inf",
        ),
        (
            r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a","meta":{"strategy":"sometimes"}}]}"#,
            "nodes[0].meta.strategy",
            r#"unknown caching strategy "sometimes" (expected "once", "per_playthrough", "per_player" or "always")"#,
        ),
        (
            r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a","meta":{"seed":-1}}]}"#,
            "nodes[0].meta.seed",
            "expected an unsigned integer, got -1",
        ),
        (
            r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a","meta":{"tags":["ok",3]}}]}"#,
            "nodes[0].meta.tags[1]",
            "expected a string, got 3",
        ),
        (
            r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a","meta":{"cue":true}}]}"#,
            "nodes[0].meta.cue",
            "expected a string, got true",
        ),
    ];
    for (json, field, message) in cases {
        let error = error_for(json);
        assert!(
            matches!(error, SceneGraphError::Invalid { .. }),
            "{error:?}"
        );
        assert_eq!(error.path(), "x.scene.json");
        assert_eq!(error.field(), Some(field), "{error}");
        assert_eq!(
            error.to_string(),
            format!("scene file x.scene.json: {field}: {message}")
        );
    }
}

#[test]
fn parse_errors_name_the_field_or_the_document() {
    let error = error_for(r#"{"id":1,"startNodeId":"a","nodes":[{"id":true}]}"#);
    assert_eq!(error.field(), Some("nodes[0].id"));
    assert!(
        error
            .to_string()
            .contains("expected an id (a string or an integer)"),
        "{error}"
    );

    let error = error_for(r#"{"id":1,"startNodeId":"a"}"#);
    assert_eq!(error.field(), None);
    assert!(
        error.to_string().contains("missing field `nodes`"),
        "{error}"
    );

    let error = error_for(r#"{"id":1,"startNodeId":"a","nodes":[{"id":"a"}]} trailing"#);
    assert!(matches!(error, SceneGraphError::Parse { field: None, .. }));
    assert!(
        error
            .to_string()
            .starts_with("scene file x.scene.json: trailing")
    );
}

#[test]
fn scene_errors_become_asset_errors() {
    let error = error_for("[]");
    let asset_error = AssetError::from(error);
    assert_eq!(
        asset_error.kind(),
        crate::error::AssetErrorKind::InvalidData
    );
    assert!(asset_error.message().starts_with("scene file x.scene.json"));
}
