//! Ids as the backend sends them, and the readers the other wire types share.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// An id as the backend sends it: a JSON number on the real service, a string in some answers
/// (`"asset_id": "456"`). Kept as its decimal text. Written back as a number when it is one, as
/// the server writes its own ids; ids the client *sends* in bodies are [`SceneRef`](super::SceneRef)s, always
/// strings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendId(pub String);

impl BackendId {
    /// The id as text, for URLs and logs.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads an id inside loose JSON (a string or an integer), as a body's field would be read.
    pub fn from_value(value: &Value) -> Option<Self> {
        Self::deserialize(value).ok()
    }
}

impl From<u64> for BackendId {
    fn from(id: u64) -> Self {
        Self(id.to_string())
    }
}

impl From<&str> for BackendId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl fmt::Display for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for BackendId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.parse::<u64>() {
            Ok(number) => serializer.serialize_u64(number),
            Err(_) => serializer.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for BackendId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = BackendId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id (a string or an integer)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BackendId, E> {
                Ok(BackendId(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BackendId, E> {
                Ok(BackendId(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BackendId, E> {
                if v.is_empty() {
                    return Err(E::custom("an empty id"));
                }
                Ok(BackendId(v.to_owned()))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

pub(super) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Reads an id as [`BackendId`] does, keeping its text.
pub(super) fn id_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    BackendId::deserialize(deserializer).map(|id| id.0)
}
