//! What goes wrong reading a scene file.

use crate::error::AssetError;
use crate::json::JsonError;

/// What went wrong reading a scene file. Every variant names the file; parse and validation
/// errors also name the field, as a path like `edges[3].to`.
#[derive(Debug, thiserror::Error)]
pub enum SceneGraphError {
    /// The file could not be read.
    #[error("scene file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON of the scene's shape.
    #[error("scene file {path}: {}{message}", field_prefix(field.as_deref()))]
    Parse {
        /// The file.
        path: String,
        /// Where in the document, when the error is inside it (`nodes[2].label`).
        field: Option<String>,
        /// What was wrong, with line and column.
        message: String,
    },
    /// The file parsed but describes an impossible graph (a dangling edge, a duplicate id, ...).
    #[error("scene file {path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The offending field (`edges[3].to`).
        field: String,
        /// What was wrong.
        message: String,
    },
}

/// `"field: "`, or nothing for errors about the document as a whole.
fn field_prefix(field: Option<&str>) -> String {
    field.map(|f| format!("{f}: ")).unwrap_or_default()
}

impl SceneGraphError {
    /// The file the error is about.
    pub fn path(&self) -> &str {
        match self {
            Self::Io { path, .. } | Self::Parse { path, .. } | Self::Invalid { path, .. } => path,
        }
    }

    /// The field the error is about (`edges[3].to`), if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Io { .. } => None,
            Self::Parse { field, .. } => field.as_deref(),
            Self::Invalid { field, .. } => Some(field),
        }
    }

    pub(super) fn invalid(
        path: &str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            path: path.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// A file that is not JSON of the scene's shape.
    pub(super) fn parse(path: &str, error: JsonError) -> Self {
        Self::Parse {
            path: path.to_owned(),
            field: error.field().map(str::to_owned),
            message: error.into_inner().to_string(),
        }
    }
}

impl From<SceneGraphError> for AssetError {
    fn from(error: SceneGraphError) -> Self {
        match error {
            SceneGraphError::Io { .. } => AssetError::io(error.to_string()),
            SceneGraphError::Parse { .. } | SceneGraphError::Invalid { .. } => {
                AssetError::invalid_data(error.to_string())
            }
        }
    }
}
