//! How answers are written: error bodies, the parse of a request body, ids, and timestamps.

use std::time::SystemTime;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use bevy_asset_provider::backend::wire::ErrorBody;

pub(crate) type Answer = Result<Response, Response>;

pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(ErrorBody::new(code, message))).into_response()
}

pub(crate) fn validation(detail: String, field: &str) -> Response {
    let body = ErrorBody {
        code: Some("validation_error".to_owned()),
        message: Some("Invalid request".to_owned()),
        detail: Some(Value::String(detail.clone())),
        fields: Some(vec![json!({"field": field, "message": detail})]),
    };
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

/// ISO 8601 UTC, to the second (`2026-11-21T10:00:00Z`).
pub(crate) fn now_iso() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let field = error.path().to_string();
        validation(format!("{field}: {}", error.inner()), &field)
    })
}

pub(crate) fn parse_id(id: &str) -> Result<u64, Response> {
    id.parse().map_err(|_| {
        error(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such generation or asset",
        )
    })
}
