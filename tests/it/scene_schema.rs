//! The scene file's JSON Schema (`schema/scene.schema.json`, shipped with the crate) and the
//! parser agree: the bundled story and the fixtures are valid, and every shape the schema can
//! describe is accepted or refused by both alike.

use bevy_asset_provider::scene::SceneGraph;
use serde_json::{Value, json};

fn validator() -> jsonschema::Validator {
    let path = format!("{}/schema/scene.schema.json", env!("CARGO_MANIFEST_DIR"));
    let schema: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("the schema ships with the crate"))
            .expect("the schema is JSON");
    jsonschema::draft202012::meta::validate(&schema).expect("the schema is a valid 2020-12 schema");
    jsonschema::draft202012::new(&schema).expect("the schema compiles")
}

fn base() -> Value {
    json!({
        "id": "s", "title": "t", "startNodeId": "a",
        "nodes": [
            { "id": "a", "type": "image", "label": "A", "meta": { "prompt": "a", "seed": 3 } },
            { "id": 2, "type": "video", "label": "B", "assetId": 5, "meta": null }
        ],
        "edges": [ { "id": 1, "from": "a", "to": 2, "label": "go", "weight": 2.5,
                     "conditions": { "k": true }, "effects": null, "isDefault": null } ]
    })
}

/// Applies `edit` to a copy of [`base`].
fn edited(edit: impl FnOnce(&mut Value)) -> Value {
    let mut doc = base();
    edit(&mut doc);
    doc
}

fn parses(doc: &Value) -> bool {
    SceneGraph::from_json(doc.to_string().as_bytes(), "doc.scene.json").is_ok()
}

#[test]
fn the_bundled_story_and_the_fixtures_follow_the_schema() {
    let validator = validator();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut files = vec![format!("{root}/assets/story/lighthouse.scene.json")];
    for entry in std::fs::read_dir(format!("{root}/tests/fixtures/scenes")).unwrap() {
        let path = entry.unwrap().path();
        files.push(path.to_string_lossy().into_owned());
    }
    let mut valid = 0;
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let Ok(doc) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        if SceneGraph::from_json(&bytes, &file).is_ok() {
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{file} parses but breaks the schema: {errors:?}"
            );
            valid += 1;
        }
    }
    assert!(
        valid >= 2,
        "the story and at least one fixture are valid scenes"
    );
}

#[test]
fn schema_and_parser_accept_the_same_shapes() {
    let validator = validator();
    let accepted = [
        ("the base document", base()),
        (
            "no edges, no title",
            edited(|d| {
                d.as_object_mut().unwrap().remove("edges");
                d.as_object_mut().unwrap().remove("title");
            }),
        ),
        ("unknown fields", edited(|d| d["extra"] = json!({"x": 1}))),
        (
            "a null weight",
            edited(|d| d["edges"][0]["weight"] = Value::Null),
        ),
        (
            "extra meta keys",
            edited(|d| d["nodes"][0]["meta"]["mood"] = json!(["calm"])),
        ),
        (
            "a strategy",
            edited(|d| d["nodes"][0]["meta"]["strategy"] = json!("per_player")),
        ),
        (
            "an integer start id",
            edited(|d| {
                d["startNodeId"] = json!(2);
            }),
        ),
    ];
    for (what, doc) in accepted {
        assert!(validator.is_valid(&doc), "the schema refuses {what}");
        assert!(parses(&doc), "the parser refuses {what}");
    }
    let refused = [
        (
            "no startNodeId",
            edited(|d| {
                d.as_object_mut().unwrap().remove("startNodeId");
            }),
        ),
        (
            "no nodes",
            edited(|d| {
                d.as_object_mut().unwrap().remove("nodes");
            }),
        ),
        (
            "a boolean id",
            edited(|d| d["nodes"][0]["id"] = json!(true)),
        ),
        (
            "a null label",
            edited(|d| d["nodes"][0]["label"] = Value::Null),
        ),
        (
            "a negative seed",
            edited(|d| d["nodes"][0]["meta"]["seed"] = json!(-1)),
        ),
        (
            "a fractional seed",
            edited(|d| d["nodes"][0]["meta"]["seed"] = json!(1.5)),
        ),
        (
            "a numeric prompt",
            edited(|d| d["nodes"][0]["meta"]["prompt"] = json!(7)),
        ),
        (
            "tags that are not strings",
            edited(|d| {
                d["nodes"][0]["meta"]["tags"] = json!(["a", 1]);
            }),
        ),
        (
            "an unknown strategy",
            edited(|d| {
                d["nodes"][0]["meta"]["strategy"] = json!("sometimes");
            }),
        ),
        (
            "a negative weight",
            edited(|d| d["edges"][0]["weight"] = json!(-1.0)),
        ),
        (
            "an edge without its end",
            edited(|d| {
                d["edges"][0].as_object_mut().unwrap().remove("to");
            }),
        ),
        (
            "a string isDefault",
            edited(|d| d["edges"][0]["isDefault"] = json!("yes")),
        ),
    ];
    for (what, doc) in refused {
        assert!(!validator.is_valid(&doc), "the schema accepts {what}");
        assert!(!parses(&doc), "the parser accepts {what}");
    }
}
