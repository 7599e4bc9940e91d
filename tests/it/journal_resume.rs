//! Jobs journalled by a run that stopped are followed at the next start within a deadline, and
//! their entries are forgotten only when the source says the job is gone or ended.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use async_trait::async_trait;
use bevy::prelude::*;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
use bevy_asset_provider::source::{AssetSource, SourceRequest, SourcedMedia};

/// What a [`Resumer`]'s `resume` does.
#[derive(Clone, Copy)]
enum Resume {
    /// Never answers (a job stuck on the backend).
    Hang,
    /// Cannot reach the backend.
    Unreachable,
    /// The job is gone.
    Gone,
}

/// A source that serves requests at once and resumes journalled jobs as told.
struct Resumer {
    /// Its name and id: the journal's entries name the source that submitted their job.
    name: &'static str,
    resume: Resume,
    /// The jobs it was asked to follow again.
    followed: Mutex<Vec<String>>,
    served: AtomicUsize,
}

#[async_trait]
impl AssetSource for Resumer {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    async fn resolve(&self, _: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        self.served.fetch_add(1, Ordering::SeqCst);
        Ok(Some(SourcedMedia::new(
            png(4, 4, [9, 9, 9, 255]),
            "image/png",
            "resumer",
        )))
    }

    async fn resume(
        &self,
        _: &SourceRequest,
        generation_id: &str,
    ) -> Result<Option<SourcedMedia>, AssetError> {
        if let Ok(mut followed) = self.followed.lock() {
            followed.push(generation_id.to_owned());
        }
        match self.resume {
            Resume::Hang => std::future::pending().await,
            Resume::Unreachable => Err(AssetError::generation("could not connect")),
            Resume::Gone => Ok(None),
        }
    }
}

fn request() -> AssetRequest {
    AssetRequest::image()
        .prompt("a journalled picture")
        .strategy(CachingStrategy::PerPlayer)
        .max_wait(Duration::from_secs(10))
}

impl Resumer {
    /// How many journalled jobs it was asked to follow again.
    fn resumed(&self) -> usize {
        self.followed.lock().map_or(0, |followed| followed.len())
    }
}

/// A source that submits one backend job, journals it, and never hears back.
struct Submitter {
    name: &'static str,
    generation_id: &'static str,
    journalled: AtomicBool,
}

#[async_trait]
impl AssetSource for Submitter {
    fn name(&self) -> &str {
        self.name
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        let (key, session) = (request.key, &request.session);
        request
            .journal
            .submitted(
                self.name,
                self.generation_id,
                key,
                &request.request,
                session,
            )
            .await;
        self.journalled.store(true, Ordering::SeqCst);
        std::future::pending().await
    }
}

/// Leaves a journal entry in `dir` as a run that stopped mid-job does: `source` submitted the
/// job `generation_id` for [`request`] and the game quit before it ended.
fn journal_a_job_of(dir: &std::path::Path, source: &'static str, generation_id: &'static str) {
    let submitter = Arc::new(Submitter {
        name: source,
        generation_id,
        journalled: AtomicBool::new(false),
    });
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .with_shared_source(submitter.clone())
            .with_disk_cache_dir(dir),
    );
    app.world_mut().spawn(request());
    update_until(&mut app, "the job is journalled", |_| {
        submitter.journalled.load(Ordering::SeqCst)
    });
}

/// Leaves the journal entry of job `41` of the source `resumer` in `dir`.
fn journal_a_job(dir: &std::path::Path) {
    journal_a_job_of(dir, "resumer", "41");
}

/// The jobs of `source` journalled in `dir`, as the next start follows them: one that cannot
/// reach the backend, so it keeps every entry. A request for their key waits for them.
fn journalled_jobs_of(dir: &std::path::Path, source: &'static str) -> Vec<String> {
    let resumer = resumer_named(source, Resume::Unreachable);
    let mut app = app(dir, resumer.clone(), Duration::from_secs(10));
    let entity = app.world_mut().spawn(request()).id();
    until_status(&mut app, entity, TaskStatus::Completed);
    std::mem::take(&mut *resumer.followed.lock().unwrap())
}

fn pending_jobs(dir: &std::path::Path) -> usize {
    journalled_jobs_of(dir, "resumer").len()
}

fn app(dir: &std::path::Path, source: Arc<Resumer>, deadline: Duration) -> App {
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .with_shared_source(source)
            .with_disk_cache_dir(dir)
            .with_default_timeout(deadline),
    );
    app.update();
    app
}

fn resumer(resume: Resume) -> Arc<Resumer> {
    resumer_named("resumer", resume)
}

fn resumer_named(name: &'static str, resume: Resume) -> Arc<Resumer> {
    Arc::new(Resumer {
        name,
        resume,
        followed: Mutex::default(),
        served: AtomicUsize::new(0),
    })
}

#[test]
fn a_stuck_resumed_job_holds_requests_for_its_key_only_until_the_deadline() {
    let dir = TempDir::new("resume-stuck");
    journal_a_job(dir.path());
    let source = resumer(Resume::Hang);
    {
        let mut app = app(dir.path(), source.clone(), Duration::from_millis(300));
        update_until(&mut app, "the job is followed again", |_| {
            source.resumed() == 1
        });
        let entity = app.world_mut().spawn(request()).id();
        until_status(&mut app, entity, TaskStatus::Completed);
        assert_eq!(source.served.load(Ordering::SeqCst), 1);
    }
    // Nobody learnt how the job ended: its entry stays for the next start.
    assert_eq!(pending_jobs(dir.path()), 1);
}

#[test]
fn an_outage_at_start_does_not_forget_a_paid_job() {
    let dir = TempDir::new("resume-outage");
    journal_a_job(dir.path());
    let source = resumer(Resume::Unreachable);
    {
        let mut app = app(dir.path(), source.clone(), Duration::from_secs(10));
        update_until(&mut app, "the job is followed again", |_| {
            source.resumed() == 1
        });
        let entity = app.world_mut().spawn(request()).id();
        until_status(&mut app, entity, TaskStatus::Completed);
    }
    assert_eq!(pending_jobs(dir.path()), 1);

    // A later start learns the job is gone: then it is forgotten.
    let source = resumer(Resume::Gone);
    {
        let mut app = app(dir.path(), source.clone(), Duration::from_secs(10));
        // The request waits for the resume, so once it is served the entry is settled.
        let entity = app.world_mut().spawn(request()).id();
        until_status(&mut app, entity, TaskStatus::Completed);
        assert_eq!(source.resumed(), 1);
    }
    assert_eq!(pending_jobs(dir.path()), 0);
}

#[test]
fn a_backend_that_cannot_be_reached_keeps_the_entry_and_one_that_lost_the_job_forgets_it() {
    use bevy_asset_provider::backend::PixSimSource;
    use pixsim_dev::DevBackend;

    let dir = TempDir::new("resume-backend");
    let request = request();
    journal_a_job_of(dir.path(), "studio", "9999");
    // Nothing listens on port 1 of the loopback: every call is refused.
    let unreachable = PixSimSource::builder("http://127.0.0.1:1")
        .source_id("studio")
        .retries(2, Duration::from_millis(5), Duration::from_millis(10))
        .websocket(false)
        .build()
        .unwrap();
    {
        let mut app = headless_app(
            AssetProviderPlugin::new()
                .with_source(unreachable)
                .with_disk_cache_dir(dir.path()),
        );
        update_until(&mut app, "the resume gives up", |app| {
            app.world()
                .resource::<AssetProvider>()
                .disk()
                .resumed_jobs()
                == 1
        });
        // A request for the key waits for the resume, then fails on the unreachable backend.
        let entity = app.world_mut().spawn(request.clone()).id();
        update_until(&mut app, "the request ends", |app| {
            task(app, entity).status().is_terminal()
        });
    }
    assert_eq!(journalled_jobs_of(dir.path(), "studio"), ["9999"]);

    let dev = DevBackend::builder().spawn().unwrap();
    let reachable = client(&dev).source_id("studio").build().unwrap();
    {
        let mut app = headless_app(
            AssetProviderPlugin::new()
                .with_source(reachable)
                .with_disk_cache_dir(dir.path()),
        );
        let entity = app.world_mut().spawn(request).id();
        until_status(&mut app, entity, TaskStatus::Completed);
    }
    // The backend said 404: the job is gone, and so is its entry.
    let pending = journalled_jobs_of(dir.path(), "studio");
    assert!(pending.iter().all(|id| id != "9999"), "{pending:?}");
}
