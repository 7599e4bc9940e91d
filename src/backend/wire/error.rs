//! The error answer every endpoint may send.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An error answer: `{"code", "message", "detail"?, "fields"?}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code.
    #[serde(default)]
    pub code: Option<String>,
    /// What went wrong, for people.
    #[serde(default)]
    pub message: Option<String>,
    /// More detail (a string on the real service; FastAPI's default is a list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// Field errors of a 422.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<Value>>,
}

impl ErrorBody {
    /// A body with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: Some(code.into()),
            message: Some(message.into()),
            ..Self::default()
        }
    }

    /// One line saying everything the body says: message, code, detail, fields.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(message) = &self.message {
            parts.push(message.clone());
        }
        if let Some(code) = &self.code {
            parts.push(format!("code {code}"));
        }
        match &self.detail {
            Some(Value::String(detail)) => parts.push(format!("detail: {detail}")),
            Some(Value::Null) | None => {}
            Some(other) => parts.push(format!("detail: {other}")),
        }
        if let Some(fields) = self.fields.as_ref().filter(|fields| !fields.is_empty()) {
            let fields: Vec<String> = fields.iter().map(Value::to_string).collect();
            parts.push(format!("fields: {}", fields.join(", ")));
        }
        parts.join("; ")
    }
}
