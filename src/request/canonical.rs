//! The canonical JSON form: object keys sorted at every depth, no whitespace. Request keys are
//! SHA-256 hashes of it, and the backend's reproducible hash uses it too (with non-ASCII
//! escaped as Python writes it).

use serde_json::Value;

/// How [`canonical_json`] writes characters outside ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonAscii {
    /// As they are (UTF-8), as `serde_json` writes strings: the form request keys are
    /// computed over.
    Keep,
    /// As `\uXXXX` escapes (UTF-16 units), DEL included, as Python's
    /// `json.dumps(ensure_ascii=True)` writes them: the form of the server's
    /// `reproducible_hash`.
    Escape,
}

/// `value` as canonical JSON: object keys sorted at every depth (whatever map type serde_json
/// was built with), no whitespace, separators `,` and `:`, control characters escaped as
/// `serde_json` and Python escape them, and other characters outside ASCII as `non_ascii` says.
pub fn canonical_json(value: &Value, non_ascii: NonAscii) -> String {
    let mut out = String::new();
    write_canonical(value, non_ascii, &mut out);
    out
}

fn write_canonical(value: &Value, non_ascii: NonAscii, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, non_ascii, out);
                out.push(':');
                write_canonical(value, non_ascii, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, non_ascii, out);
            }
            out.push(']');
        }
        Value::String(text) => write_string(text, non_ascii, out),
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn write_string(text: &str, non_ascii: NonAscii, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if c < ' ' || (non_ascii == NonAscii::Escape && c > '~') => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
