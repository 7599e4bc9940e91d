//! The JSON files a game hands the crate (scenes, pre-made manifests, bake lists, settings
//! files, recordings), read one strict way: the whole input must be one JSON value of the
//! expected shape, nothing after it, and an error names the field at fault as a path
//! (`nodes[2].label`) with serde's line and column. Also the one description of a failed Bevy
//! load of such a file.

use std::fmt;
use std::path::Path;

use bevy::asset::AssetLoadError;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::AssetError;

/// Why JSON did not parse as the type asked for: where (a field path, or the document as a
/// whole) and serde's error (with line and column when read from text).
#[derive(Debug)]
pub(crate) struct JsonError {
    field: Option<String>,
    error: serde_json::Error,
}

impl JsonError {
    fn new(error: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let field = error.path().to_string();
        Self {
            // serde_path_to_error writes "." for the document root, which says nothing.
            field: (field != ".").then_some(field),
            error: error.into_inner(),
        }
    }

    /// The field at fault (`assets[2].kind`), or `None` when the error is about the document
    /// as a whole (not JSON, the wrong type at the root, text after the value).
    pub(crate) fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The field at fault, or `(document)`.
    pub(crate) fn field_or_document(&self) -> &str {
        self.field().unwrap_or("(document)")
    }

    /// serde's error, without the field.
    pub(crate) fn into_inner(self) -> serde_json::Error {
        self.error
    }

    /// An [`InvalidData`](crate::AssetErrorKind::InvalidData) error about the file `file`, a
    /// `what` (`pre-made manifest`): `"{what} {file}: {field}: {problem}"`.
    pub(crate) fn in_file(self, what: &str, file: &Path) -> AssetError {
        AssetError::invalid_data(format!(
            "{what} {}: {}: {}",
            file.display(),
            self.field_or_document(),
            self.error
        ))
        .with_source(self.error)
    }
}

impl fmt::Display for JsonError {
    /// serde's error, prefixed by the field when there is one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.error),
            None => self.error.fmt(f),
        }
    }
}

/// `bytes` as one JSON value of type `T`: a field of the wrong type or a missing one names its
/// path, and anything but whitespace after the value is an error (a file with two documents,
/// or half of one pasted after the other, is not what its author thinks).
pub(crate) fn parse_strict<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(JsonError::new)?;
    // A bare Deserializer rejects trailing characters only when asked to end.
    deserializer
        .end()
        .map_err(|error| JsonError { field: None, error })?;
    Ok(value)
}

/// `value` as a `T`, naming the field at fault like [`parse_strict`] (without line and
/// column: a [`Value`] has none).
pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, JsonError> {
    serde_path_to_error::deserialize(value).map_err(JsonError::new)
}

/// What a failed load of one of our assets says: the loader's own error of type `E` when it
/// returned one (it already names the file and the field), else Bevy's whole load error
/// (a missing file, no loader, ...).
pub(crate) fn describe_load_error<E: std::error::Error + 'static>(
    error: &AssetLoadError,
) -> String {
    if let AssetLoadError::AssetLoaderError(loader_error) = error
        && let Some(ours) = loader_error.error().downcast_ref::<E>()
    {
        return ours.to_string();
    }
    error.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Shape {
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        name: String,
    }

    #[test]
    fn a_wrong_field_is_named_by_its_path_with_line_and_column() {
        let error = parse_strict::<Shape>(b"{\"items\": [{\"name\": \"a\"},\n {\"name\": 5}]}")
            .unwrap_err();
        assert_eq!(error.field(), Some("items[1].name"));
        assert_eq!(
            error.to_string(),
            "items[1].name: invalid type: integer `5`, expected a string at line 2 column 11"
        );
    }

    #[test]
    fn errors_about_the_whole_document_name_no_field() {
        let error = parse_strict::<Shape>(b"[]").unwrap_err();
        assert_eq!(error.field(), None);
        assert_eq!(error.field_or_document(), "(document)");

        let error = parse_strict::<Shape>(b"{\"items\": []} {}").unwrap_err();
        assert_eq!(error.field(), None);
        assert_eq!(error.to_string(), "trailing characters at line 1 column 15");

        assert!(parse_strict::<Shape>(b" {\"items\": []}\n\t ").is_ok());
        assert!(parse_strict::<Value>(b"{").is_err());
    }

    #[test]
    fn in_file_names_what_the_file_and_the_field() {
        let error = parse_strict::<Shape>(b"{\"items\": [{}]}")
            .unwrap_err()
            .in_file("bake requests", Path::new("lists/bake.json"));
        assert_eq!(error.kind(), crate::AssetErrorKind::InvalidData);
        assert_eq!(
            error.message(),
            "bake requests lists/bake.json: items[0]: missing field `name` at line 1 column 13"
        );
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn values_name_the_field_without_a_position() {
        let value = serde_json::json!({"items": [{"name": "a"}, {}]});
        let error = from_value::<Shape>(value).unwrap_err();
        assert_eq!(error.field(), Some("items[1]"));
        assert_eq!(error.to_string(), "items[1]: missing field `name`");
    }
}
