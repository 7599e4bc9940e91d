//! The wire format of `POST /v1/images/generations` and of the job a server may answer with.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How the server should return the image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    /// The image's bytes, base64-encoded, inside the answer.
    #[default]
    B64Json,
    /// A URL to fetch the image from (often a CDN, valid for a while).
    Url,
}

/// The body of `POST /v1/images/generations`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ImagesRequest {
    /// The model (`gpt-image-1`, `dall-e-3`, whatever the server serves).
    pub model: String,
    /// What to draw.
    pub prompt: String,
    /// How many images; the adapter asks for one.
    pub n: u32,
    /// `WIDTHxHEIGHT` (`1024x1024`).
    pub size: String,
    /// Base64 or URL; sent only when the game [chose one](crate::openai::OpenAiImagesBuilder::response_format)
    /// (OpenAI's gpt-image models refuse the field and always answer base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// An opaque tag of the end user; the adapter sends a hash of the request's scope (see the
    /// [module docs](crate::openai)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// One image of an answer: base64 bytes or a URL (a `data:` URL counts as bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct ImageData {
    /// The image, base64-encoded.
    #[serde(default)]
    pub b64_json: Option<String>,
    /// Where to fetch it.
    #[serde(default)]
    pub url: Option<String>,
}

/// Where `data` sits in an Azure-style job (`{"status": "succeeded", "result": {"data": […]}}`).
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct JobResult {
    /// The images.
    #[serde(default)]
    pub data: Vec<ImageData>,
}

/// Any answer of the create or the poll: a direct answer (`created` and `data`), or a job (`id`
/// and `status`, with `data` or `result.data` once done, `error` once failed).
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct ImagesAnswer {
    /// The images.
    #[serde(default)]
    pub data: Option<Vec<ImageData>>,
    /// The job's id (asynchronous answers).
    #[serde(default)]
    pub id: Option<String>,
    /// The job's status.
    #[serde(default)]
    pub status: Option<String>,
    /// The images of a finished Azure-style job.
    #[serde(default)]
    pub result: Option<JobResult>,
    /// Why the job failed: a string or `{"message": …, "code": …}`.
    #[serde(default)]
    pub error: Option<Value>,
}

/// What an answer says, read.
#[derive(Debug, PartialEq)]
pub(crate) enum Reply {
    /// The images are here.
    Images(Vec<ImageData>),
    /// A job still running: poll `id`.
    Running { id: String },
    /// A job that failed, with the server's words and code.
    Failed {
        id: String,
        message: String,
        code: Option<String>,
    },
}

/// A job status the adapter does not know, or an answer of neither shape.
#[derive(Debug, PartialEq)]
pub(crate) struct Unreadable(pub String);

impl ImagesAnswer {
    /// What the answer says. Statuses are read case-insensitively: `queued`, `pending`,
    /// `notRunning`, `in_progress`, `running`, `processing` are running; `completed`,
    /// `succeeded` are done; `failed`, `cancelled`, `canceled`, `expired` are failed.
    pub(crate) fn read(self) -> Result<Reply, Unreadable> {
        let data = self
            .data
            .filter(|data| !data.is_empty())
            .or_else(|| self.result.map(|result| result.data))
            .filter(|data| !data.is_empty());
        let Some(status) = self.status else {
            return match data {
                Some(data) => Ok(Reply::Images(data)),
                None => Err(Unreadable(
                    "the answer has neither images (`data`) nor a job (`id` and `status`)".into(),
                )),
            };
        };
        let id = self.id.unwrap_or_default();
        match status
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "queued" | "pending" | "notrunning" | "not_running" | "in_progress" | "running"
            | "processing" => {
                if id.is_empty() {
                    Err(Unreadable(format!(
                        "a {status} job without an `id` to poll"
                    )))
                } else {
                    Ok(Reply::Running { id })
                }
            }
            "completed" | "succeeded" | "success" => match data {
                Some(data) => Ok(Reply::Images(data)),
                None => Err(Unreadable(format!(
                    "job {id:?} is {status} but has no `data`"
                ))),
            },
            "failed" | "cancelled" | "canceled" | "expired" | "error" => {
                let (message, code) = match self.error {
                    Some(Value::String(message)) => (message, None),
                    Some(Value::Object(error)) => (
                        error
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("no reason given")
                            .to_owned(),
                        error.get("code").and_then(Value::as_str).map(str::to_owned),
                    ),
                    _ => (format!("the job is {status}"), None),
                };
                Ok(Reply::Failed { id, message, code })
            }
            _ => Err(Unreadable(format!(
                "job {id:?} has the unknown status {status:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<Reply, Unreadable> {
        serde_json::from_str::<ImagesAnswer>(json).unwrap().read()
    }

    #[test]
    fn direct_answers_and_jobs_are_both_read() {
        let direct = read(r#"{"created": 1, "data": [{"b64_json": "AAAA"}]}"#).unwrap();
        assert!(
            matches!(direct, Reply::Images(data) if data[0].b64_json.as_deref() == Some("AAAA"))
        );
        assert_eq!(
            read(r#"{"id": "j1", "status": "in_progress"}"#).unwrap(),
            Reply::Running { id: "j1".into() }
        );
        assert_eq!(
            read(r#"{"id": "j1", "status": "notRunning"}"#).unwrap(),
            Reply::Running { id: "j1".into() }
        );
        let done =
            read(r#"{"id": "j1", "status": "completed", "data": [{"url": "http://x/a.png"}]}"#)
                .unwrap();
        assert!(matches!(done, Reply::Images(_)));
        let azure =
            read(r#"{"id": "j1", "status": "succeeded", "result": {"data": [{"url": "u"}]}}"#)
                .unwrap();
        assert!(matches!(azure, Reply::Images(_)));
        assert_eq!(
            read(r#"{"id": "j1", "status": "failed", "error": {"message": "no", "code": "content_policy_violation"}}"#)
                .unwrap(),
            Reply::Failed {
                id: "j1".into(),
                message: "no".into(),
                code: Some("content_policy_violation".into())
            }
        );
        assert!(read(r#"{"id": "j1", "status": "completed"}"#).is_err());
        assert!(read(r#"{"id": "j1", "status": "dreaming"}"#).is_err());
        assert!(read(r#"{"status": "queued"}"#).is_err());
        assert!(read(r#"{"created": 1, "data": []}"#).is_err());
    }
}
