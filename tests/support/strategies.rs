//! What property tests share: their settings, any JSON value a few levels deep, and a document
//! with one of its values replaced. Used by `tests/fuzz.rs` and the disk index's row tests.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

/// `cases` cases, with failures reported and never written into the source tree.
pub fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Failures are reported with their input; nothing is written into the source tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep.
pub fn json_value() -> impl Strategy<Value = Value> {
    let text = vec(any::<char>(), 0..12).prop_map(|chars| chars.into_iter().collect::<String>());
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text.clone().prop_map(Value::from),
        Just(Value::from("")),
    ];
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            vec((text.clone(), inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// The JSON pointer of every value in `value`, itself included.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointers(item, format!("{at}/{i}"), out);
            }
        }
        Value::Object(fields) => {
            for (name, item) in fields {
                let name = name.replace('~', "~0").replace('/', "~1");
                pointers(item, format!("{at}/{name}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// `document` with the value at one of its pointers (chosen by `which`) replaced by `with`.
pub fn replace_one(document: &Value, which: Index, with: Value) -> Vec<u8> {
    let mut all = Vec::new();
    pointers(document, String::new(), &mut all);
    let mut document = document.clone();
    let pointer = &all[which.index(all.len())];
    if let Some(slot) = document.pointer_mut(pointer) {
        *slot = with;
    }
    serde_json::to_vec(&document).unwrap()
}
