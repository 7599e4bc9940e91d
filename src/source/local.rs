//! The embedded default generator, used when no generation backend is configured: it paints a
//! small landscape, plays a soft chime ([`procedural`](crate::source::procedural)) or, with the `video`
//! feature, films a short clip, after a short, generator-like wait.

use async_trait::async_trait;
use std::borrow::Cow;
use std::time::Duration;

use crate::error::AssetError;
#[cfg(not(feature = "video"))]
use crate::error::AssetErrorKind;
use crate::request::MediaKind;
use crate::source::procedural::{procedural_png, procedural_wav, seed_from_key};
use crate::source::{AssetSource, SourceKind, SourceRequest, SourcedMedia};

/// How many progress reports the simulated wait makes.
const PROGRESS_STEPS: u32 = 10;

/// Longest cue made for a request's `duration_secs`: a chime, not a soundtrack.
const MAX_CUE_SECONDS: f32 = 30.0;

/// The version of what the generator paints: bump it when the same request would look or sound
/// different, so media cached from an older version is not served as this one's.
pub(crate) const GENERATOR_VERSION: u32 = 1;

/// Length of a clip when the request gives no `duration_secs`.
#[cfg(feature = "video")]
const DEFAULT_CLIP_SECONDS: f32 = 2.0;

/// Generates images, audio and (with the `video` feature) H.264 mp4 clips locally,
/// deterministically: the same request always gets the same media, different requests get
/// different media.
///
/// It waits a configurable latency first (reporting progress as it goes) so a game sees the same
/// placeholder-then-media flow it will see with a real backend. The painting itself runs on a
/// blocking thread, never on the async workers. Without the `video` feature, video requests fail
/// with an [`Unsupported`](crate::error::AssetErrorKind::Unsupported) error.
///
/// ```
/// use bevy_asset_provider::source::LocalGenerator;
/// use std::time::Duration;
///
/// let generator = LocalGenerator::new()
///     .latency(Duration::from_millis(300))
///     .image_size(320, 180)
///     .cue_seconds(0.5);
/// ```
#[derive(Clone, Debug)]
pub struct LocalGenerator {
    latency: Duration,
    width: u32,
    height: u32,
    cue_seconds: f32,
    video_size: (u32, u32),
}

impl Default for LocalGenerator {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(1500),
            width: 480,
            height: 270,
            cue_seconds: 0.8,
            video_size: (320, 180),
        }
    }
}

impl LocalGenerator {
    /// A generator with a 1.5 s latency, 480×270 images, 0.8 s cues and 320×180 clips.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How long a generation takes (default 1.5 s, at most 365 days); zero answers at once.
    #[must_use]
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency.min(crate::request::LONGEST_WAIT);
        self
    }

    /// The size of generated images in pixels (default 480×270; each side clamped to
    /// `1..=4096`).
    #[must_use]
    pub fn image_size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// The length of generated audio cues in seconds (default 0.8), used when a request gives no
    /// [`duration_secs`](crate::request::AssetRequest::duration_secs).
    #[must_use]
    pub fn cue_seconds(mut self, seconds: f32) -> Self {
        self.cue_seconds = seconds;
        self
    }

    /// The size of generated video clips (default 320×180; sides are made even, within
    /// 16..=1920). Clips are 24 fps and last the request's `duration_secs`, 2 s by default.
    #[must_use]
    pub fn video_size(mut self, width: u32, height: u32) -> Self {
        self.video_size = (width, height);
        self
    }

    /// The seed for `request`: its key, mixed with its generator seed when it has one, so the
    /// same request always looks the same.
    fn seed_for(request: &SourceRequest) -> u64 {
        let base = seed_from_key(&request.key);
        match request.request.seed {
            // The key already covers the seed; mixing it in again keeps the seed decisive even
            // for callers that build keys some other way.
            Some(seed) => base ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29),
            None => base,
        }
    }
}

#[async_trait]
impl AssetSource for LocalGenerator {
    fn name(&self) -> &str {
        "local_generator"
    }

    /// The generator, its version and the sizes it makes: media cached from another version or
    /// size is not served as this one's.
    fn id(&self) -> Cow<'_, str> {
        Cow::Owned(format!(
            "local_generator@{GENERATOR_VERSION} {}x{} {}x{} {}s",
            self.width, self.height, self.video_size.0, self.video_size.1, self.cue_seconds
        ))
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    fn uses_network(&self) -> bool {
        false
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        let kind = request.kind();
        #[cfg(not(feature = "video"))]
        if kind == MediaKind::Video {
            return Err(AssetError::new(
                AssetErrorKind::Unsupported,
                "the local generator makes video only with the `video` feature",
            ));
        }

        if !self.latency.is_zero() {
            let step = self.latency / PROGRESS_STEPS;
            for i in 0..PROGRESS_STEPS {
                request.progress.report(i as f32 / PROGRESS_STEPS as f32);
                tokio::time::sleep(step).await;
            }
        }

        let seed = Self::seed_for(request);
        let (width, height) = (self.width, self.height);
        let wanted = request.request.duration_secs;
        let seconds = wanted.map_or(self.cue_seconds, |wanted| wanted.min(MAX_CUE_SECONDS));
        #[cfg(feature = "video")]
        let (clip_seconds, video_size) = (wanted.unwrap_or(DEFAULT_CLIP_SECONDS), self.video_size);
        // Painting and encoding are CPU work: keep them off the async workers.
        let (bytes, mime) = tokio::task::spawn_blocking(move || {
            Ok::<_, AssetError>(match kind {
                MediaKind::Audio => (procedural_wav(seed, seconds), "audio/wav"),
                #[cfg(feature = "video")]
                MediaKind::Video => (
                    crate::source::ClipSpec::new(seed)
                        .size(video_size.0, video_size.1)
                        .seconds(clip_seconds)
                        .encode()?,
                    "video/mp4",
                ),
                _ => (procedural_png(seed, width, height), "image/png"),
            })
        })
        .await
        .map_err(|err| AssetError::generation(format!("local generator task failed: {err}")))??;
        request.progress.report(1.0);
        Ok(Some(SourcedMedia::new(bytes, mime, "local_generator")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::AssetRequest;
    use crate::request::PlaySession;
    use crate::source::ProgressReporter;
    use std::sync::{Arc, Mutex};

    fn source_request(request: AssetRequest) -> SourceRequest {
        let session = PlaySession::default();
        SourceRequest::new(request.fingerprint(&session), request, session)
    }

    async fn generate(generator: &LocalGenerator, request: AssetRequest) -> SourcedMedia {
        generator
            .resolve(&source_request(request))
            .await
            .expect("generated")
            .expect("some media")
    }

    fn quick() -> LocalGenerator {
        LocalGenerator::new()
            .latency(Duration::ZERO)
            .image_size(64, 36)
    }

    #[tokio::test]
    async fn image_decodes_at_the_configured_size() {
        let media = generate(&quick(), AssetRequest::image().scene("park")).await;
        assert_eq!(media.mime, "image/png");
        assert_eq!(media.origin, "local_generator");
        let decoder = png::Decoder::new(std::io::Cursor::new(&media.bytes[..]));
        let reader = decoder.read_info().expect("png");
        assert_eq!((reader.info().width, reader.info().height), (64, 36));
    }

    #[tokio::test]
    async fn audio_is_a_wav_of_the_cue_length() {
        let generator = quick().cue_seconds(0.5);
        let media = generate(&generator, AssetRequest::audio().scene("park")).await;
        assert_eq!(media.mime, "audio/wav");
        assert_eq!(&media.bytes[..4], b"RIFF");
        assert_eq!(&media.bytes[8..12], b"WAVE");
        let samples = (0.5 * crate::source::procedural::WAV_SAMPLE_RATE as f32).round() as usize;
        assert_eq!(media.bytes.len(), 44 + samples * 2);

        // A request's own duration wins over the default cue length.
        let long = generate(&generator, AssetRequest::audio().duration_secs(1.0)).await;
        let samples = crate::source::procedural::WAV_SAMPLE_RATE as usize;
        assert_eq!(long.bytes.len(), 44 + samples * 2);
    }

    #[tokio::test]
    async fn same_request_same_bytes_different_requests_differ() {
        let generator = quick();
        let park = AssetRequest::image().scene("park").prompt("a quiet park");
        let first = generate(&generator, park.clone()).await;
        let again = generate(&generator, park.clone()).await;
        assert_eq!(first.bytes, again.bytes);
        let harbor = generate(&generator, AssetRequest::image().scene("harbor")).await;
        assert_ne!(first.bytes, harbor.bytes);
        let reseeded = generate(&generator, park.seed(99)).await;
        assert_ne!(first.bytes, reseeded.bytes);
    }

    #[cfg(not(feature = "video"))]
    #[tokio::test]
    async fn video_is_unsupported() {
        let err = quick()
            .resolve(&source_request(AssetRequest::video().scene("park")))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), AssetErrorKind::Unsupported);
        assert!(err.message().contains("`video` feature"));
    }

    #[cfg(feature = "video")]
    #[tokio::test]
    async fn video_is_an_h264_clip_of_the_requested_length() {
        let generator = quick().video_size(64, 36);
        let request = AssetRequest::video().scene("park").duration_secs(0.5);
        let media = generate(&generator, request.clone()).await;
        assert_eq!(media.mime, "video/mp4");
        let (clip, first_frame) = crate::video::VideoClip::open(media.bytes.clone()).unwrap();
        let info = clip.info();
        assert_eq!((info.width, info.height), (64, 36));
        assert_eq!(first_frame.width(), 64);
        assert_eq!(info.codec, "h264");
        // 0.5 s at 24 fps.
        assert_eq!(clip.frames().unwrap().count(), 12);
        assert_eq!(generate(&generator, request).await.bytes, media.bytes);
    }

    #[tokio::test]
    async fn latency_reports_progress_in_steps() {
        let reports = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&reports);
        let mut request = source_request(AssetRequest::image().scene("park"));
        request.progress = ProgressReporter::new(move |f| sink.lock().unwrap().push(f));
        let generator = quick().latency(Duration::from_millis(50));
        let started = std::time::Instant::now();
        generator.resolve(&request).await.unwrap().unwrap();
        assert!(started.elapsed() >= Duration::from_millis(50));
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), PROGRESS_STEPS as usize + 1);
        assert!(
            reports.windows(2).all(|pair| pair[0] < pair[1]),
            "{reports:?}"
        );
        assert_eq!(reports.last().copied(), Some(1.0));
    }

    #[tokio::test]
    async fn zero_latency_is_immediate_and_never_available() {
        let generator = LocalGenerator::new().latency(Duration::ZERO);
        let mut request = source_request(AssetRequest::image());
        let reports = Arc::new(Mutex::new(Vec::new()));
        let sink = reports.clone();
        request.progress = ProgressReporter::new(move |f| sink.lock().unwrap().push(f));
        assert!(generator.resolve(&request).await.unwrap().is_some());
        // No waiting steps: the only report is the finished one.
        assert_eq!(*reports.lock().unwrap(), vec![1.0]);
        assert!(!generator.is_available(&request).await);
        assert_eq!(generator.name(), "local_generator");
        assert_eq!(generator.kind(), SourceKind::Generated);
    }
}
