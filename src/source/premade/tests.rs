use super::*;
use crate::error::AssetErrorKind;
use crate::request::{AssetRequest, PlaySession, RequestKey};
use crate::source::{AssetSource, SourceKind, SourceRequest};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh directory under the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bevy_asset_provider_premade_{label}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }

    fn write(&self, relative: &str, bytes: &[u8]) {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("create dirs");
        std::fs::write(path, bytes).expect("write file");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const MANIFEST: &str = r#"{
    "version": 3,
    "assets": [
        {"id": "harbor_dawn", "path": "premade/harbor_dawn.png", "kind": "image",
         "tags": ["loc:harbor", "role:bg"], "author": "ignored"},
        {"id": "lantern_room", "path": "premade/lantern_room.png", "kind": "image",
         "tags": ["loc:lighthouse", "role:bg", "scene:lantern_room"]},
        {"path": "premade/keeper.png", "kind": "image", "tags": ["npc:keeper", "role:char:npc"]},
        {"id": "bell", "path": "premade/bell.wav", "kind": "audio", "tags": ["loc:harbor"]}
    ]
}"#;

fn library() -> TempDir {
    let dir = TempDir::new("library");
    dir.write("premade/manifest.json", MANIFEST.as_bytes());
    dir.write("premade/harbor_dawn.png", b"harbor");
    dir.write("premade/lantern_room.png", b"lantern");
    dir.write("premade/keeper.png", b"keeper");
    dir.write("premade/bell.wav", b"bell");
    dir
}

fn source_request(request: AssetRequest) -> SourceRequest {
    SourceRequest::new(RequestKey([7; 32]), request, PlaySession::default())
}

fn source(dir: &TempDir) -> PreMadeSource {
    PreMadeSource::from_manifest("premade/manifest.json").with_asset_root(&dir.0)
}

#[tokio::test]
async fn scoring_picks_the_best_file() {
    let dir = library();
    let source = source(&dir);
    let cases = [
        (
            AssetRequest::image().location("harbor").tag("role:bg"),
            "harbor",
        ),
        (AssetRequest::image().scene("lantern_room"), "lantern"),
        (AssetRequest::image().location("lighthouse"), "lantern"),
        (AssetRequest::image().character("keeper"), "keeper"),
        (AssetRequest::audio().location("harbor"), "bell"),
    ];
    for (request, expected) in cases {
        let media = source
            .resolve(&source_request(request.clone()))
            .await
            .expect("resolve")
            .unwrap_or_else(|| panic!("no match for {request:?}"));
        assert_eq!(&*media.bytes, expected.as_bytes(), "{request:?}");
    }
    let media = source
        .resolve(&source_request(AssetRequest::image().location("harbor")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(media.mime, "image/png");
    assert_eq!(media.origin, "pre_made:premade/harbor_dawn.png");
    let bell = source
        .resolve(&source_request(AssetRequest::audio().location("harbor")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bell.mime, "audio/wav");
}

#[tokio::test]
async fn no_match_is_none_and_unavailable() {
    let dir = library();
    let source = source(&dir);
    let request = source_request(AssetRequest::image().location("forest"));
    assert!(source.resolve(&request).await.unwrap().is_none());
    assert!(!source.is_available(&request).await);
    let harbor = source_request(AssetRequest::image().location("harbor"));
    assert!(source.is_available(&harbor).await);
    // Kinds never cross: there is no harbor video.
    let video = source_request(AssetRequest::video().location("harbor"));
    assert!(source.resolve(&video).await.unwrap().is_none());
}

#[tokio::test]
async fn asset_id_lookup() {
    let dir = library();
    let source = source(&dir);
    // The id wins over context that would score another entry higher.
    let request = AssetRequest::image()
        .asset_id("lantern_room")
        .location("harbor");
    let media = source
        .resolve(&source_request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&*media.bytes, b"lantern");
    // Same id, wrong kind; and an unknown id: nothing, no fallback to scoring.
    let wrong_kind = AssetRequest::audio().asset_id("lantern_room");
    assert!(
        source
            .resolve(&source_request(wrong_kind))
            .await
            .unwrap()
            .is_none()
    );
    let unknown = AssetRequest::image().asset_id("nope").location("harbor");
    assert!(
        source
            .resolve(&source_request(unknown))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn malformed_manifest_names_file_and_field() {
    let dir = TempDir::new("malformed");
    dir.write(
        "manifest.json",
        br#"{"assets": [
            {"path": "a.png", "kind": "image"},
            {"path": "b.png", "kind": "image"},
            {"path": "c.png", "kind": "vidoe"}
        ]}"#,
    );
    let source = PreMadeSource::from_manifest("manifest.json").with_asset_root(&dir.0);
    let request = source_request(AssetRequest::image().location("x"));
    let err = source.resolve(&request).await.unwrap_err();
    assert_eq!(err.kind(), AssetErrorKind::InvalidData);
    let full_path = dir.0.join("manifest.json").display().to_string();
    let expected_start = format!("pre-made manifest {full_path}: assets[2].kind: unknown variant");
    assert!(
        err.message().starts_with(&expected_start),
        "{}",
        err.message()
    );
    assert!(err.message().contains("line 4 column"), "{}", err.message());
    // The same error, every time, without reading the file again.
    std::fs::remove_file(dir.0.join("manifest.json")).unwrap();
    assert_eq!(source.resolve(&request).await.unwrap_err(), err);
    assert!(!source.is_available(&request).await);
}

#[test]
fn validation_names_the_field() {
    let cases: [(&str, &str); 6] = [
        (
            r#"{"assets": [{"path": "", "kind": "image"}]}"#,
            "assets[0].path: is empty",
        ),
        (
            r#"{"assets": [{"path": "a.png", "kind": "image"}, {"path": "b.png", "kind": "image", "tags": ["loc:x", ""]}]}"#,
            "assets[1].tags[1]: is an empty tag",
        ),
        (
            r#"{"assets": [{"path": "../secret.png", "kind": "image"}]}"#,
            "assets[0].path: ",
        ),
        (
            r#"{"assets": [{"id": "a", "path": "a.png", "kind": "image"}, {"id": "a", "path": "b.png", "kind": "image"}]}"#,
            "assets[1].id: \"a\" is already the id of assets[0]",
        ),
        (
            r#"{"assets": [{"kind": "image"}]}"#,
            "assets[0]: missing field `path`",
        ),
        (r#"{"things": []}"#, "(document): missing field `assets`"),
    ];
    for (json, expected) in cases {
        let err = PreMadeManifest::parse(json.as_bytes(), "/x/manifest.json").unwrap_err();
        assert_eq!(err.kind(), AssetErrorKind::InvalidData);
        let message = err.message();
        assert!(
            message.starts_with(&format!("pre-made manifest /x/manifest.json: {expected}")),
            "{message}"
        );
    }
    let garbage = PreMadeManifest::parse(br#"{"assets": []} trailing"#, "m.json").unwrap_err();
    assert_eq!(garbage.kind(), AssetErrorKind::InvalidData);
}

#[tokio::test]
async fn missing_manifest_is_an_io_error_naming_the_path() {
    let dir = TempDir::new("missing");
    let source = PreMadeSource::from_manifest("premade/none.json").with_asset_root(&dir.0);
    let err = source
        .resolve(&source_request(AssetRequest::image().location("harbor")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), AssetErrorKind::Io);
    let full_path = dir.0.join("premade/none.json").display().to_string();
    assert!(err.message().contains(&full_path), "{}", err.message());
}

#[tokio::test]
async fn an_optional_source_without_a_manifest_serves_nothing() {
    let dir = TempDir::new("optional");
    let source = PreMadeSource::from_manifest("premade/none.json")
        .with_asset_root(&dir.0)
        .optional();
    let request = source_request(AssetRequest::image().location("harbor"));
    assert!(source.resolve(&request).await.unwrap().is_none());
    assert!(!source.is_available(&request).await);
}

#[tokio::test]
async fn a_named_asset_source_without_an_app_is_an_error_naming_it() {
    let source = PreMadeSource::from_manifest("embedded://premade/manifest.json");
    let err = source
        .resolve(&source_request(AssetRequest::image().location("harbor")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), AssetErrorKind::Io);
    assert!(err.message().contains("embedded"), "{err}");
}

#[tokio::test]
async fn missing_or_unknown_files_are_errors_naming_the_path() {
    let dir = TempDir::new("files");
    dir.write(
        "manifest.json",
        br#"{"assets": [
            {"path": "gone.png", "kind": "image", "tags": ["loc:a"]},
            {"path": "odd.bmp", "kind": "image", "tags": ["loc:b"]},
            {"path": "sound.wav", "kind": "image", "tags": ["loc:c"]}
        ]}"#,
    );
    dir.write("odd.bmp", b"bmp");
    dir.write("sound.wav", b"wav");
    let source = PreMadeSource::from_manifest("manifest.json").with_asset_root(&dir.0);
    let resolve = |location: &'static str| {
        let request = source_request(AssetRequest::image().location(location));
        let source = &source;
        async move { source.resolve(&request).await.unwrap_err() }
    };
    let gone = resolve("a").await;
    assert_eq!(gone.kind(), AssetErrorKind::Io);
    assert!(
        gone.message()
            .contains(&dir.0.join("gone.png").display().to_string())
    );
    let odd = resolve("b").await;
    assert_eq!(odd.kind(), AssetErrorKind::Unsupported);
    assert!(odd.message().contains("odd.bmp"));
    let mismatch = resolve("c").await;
    assert_eq!(mismatch.kind(), AssetErrorKind::InvalidData);
    assert!(mismatch.message().contains("audio/wav"));
}

#[tokio::test]
async fn shipped_manifest_serves_the_example_story() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let source = PreMadeSource::from_manifest("premade/manifest.json").with_asset_root(&root);
    let manifest = source.manifest().await.expect("shipped manifest parses");
    assert_eq!(manifest.entries().len(), 3);
    for entry in manifest.entries() {
        let bytes = std::fs::read(root.join(&entry.path)).expect("listed file exists");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let info = decoder.read_info().expect("listed file is a PNG");
        assert_eq!(
            (info.info().width, info.info().height),
            (480, 270),
            "{}",
            entry.path
        );
    }
    let cases = [
        (
            AssetRequest::image().scene("harbor").tag("role:bg"),
            "harbor_dawn",
        ),
        (
            AssetRequest::image().asset_id("lantern_room"),
            "lantern_room",
        ),
        (AssetRequest::image().scene("lantern_room"), "lantern_room"),
        (AssetRequest::image().location("cliffs"), "cliffs"),
    ];
    for (request, file) in cases {
        let media = source
            .resolve(&source_request(request))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(media.origin, format!("pre_made:premade/{file}.png"));
    }
}

#[tokio::test]
async fn a_wanted_role_alone_does_not_pick_a_file() {
    let dir = TempDir::new("role_only");
    dir.write(
        "premade/manifest.json",
        br#"{"assets": [{"path": "premade/bg.png", "kind": "image", "tags": ["role:bg"]}]}"#,
    );
    dir.write("premade/bg.png", b"bg");
    let source = PreMadeSource::from_manifest("premade/manifest.json").with_asset_root(&dir.0);
    let request = source_request(AssetRequest::image().scene("elsewhere").tag("role:bg"));
    assert!(source.resolve(&request).await.unwrap().is_none());
}

#[test]
fn a_keyed_entry_serves_its_request_only() {
    let request = AssetRequest::image()
        .scene("boat")
        .location("sea")
        .prompt("oars");
    let key = request.fingerprint(&PlaySession::default()).to_hex();
    let json = format!(
        r#"{{"assets": [
            {{"path": "premade/sea.png", "kind": "image", "tags": ["loc:sea"]}},
            {{"path": "premade/baked/boat.png", "kind": "image", "tags": ["loc:sea", "scene:boat"],
              "key": "{key}"}}
        ]}}"#
    );
    let manifest = PreMadeManifest::parse(json.as_bytes(), "m.json").unwrap();
    // The key wins over a hand-made file the tags would pick.
    assert_eq!(
        manifest.find(&request).unwrap().path,
        "premade/baked/boat.png"
    );
    // Another prompt, the same tags: not the baked file, whatever its tags score.
    let other = AssetRequest::image()
        .scene("boat")
        .location("sea")
        .prompt("sails");
    assert_eq!(manifest.find(&other).unwrap().path, "premade/sea.png");
    let bad = r#"{"assets": [{"path": "a.png", "kind": "image", "key": "ABC"}]}"#;
    let error = PreMadeManifest::parse(bad.as_bytes(), "m.json").unwrap_err();
    assert!(error.message().contains("assets[0].key"), "{error}");
}

#[test]
fn default_root_is_bevys_assets_folder() {
    let source = PreMadeSource::from_manifest("premade/manifest.json");
    assert_eq!(source.asset_root(), None);
    assert!(
        source
            .name_of(source.manifest_path())
            .ends_with("assets/premade/manifest.json")
    );
    assert_eq!(source.name(), "pre_made");
    assert_eq!(source.kind(), SourceKind::PreMade);
}
