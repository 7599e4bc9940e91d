//! Jobs under a shared limit of jobs processing at once, with drawn job times: the others wait
//! `pending`, first come first served, and a cancel frees its slot. Observed through the HTTP
//! API and the backend's stats, polled with a bound.

use std::future::Future;
use std::time::{Duration, Instant};

use bevy_asset_provider::MediaKind;
use pixsim_dev::DevBackend;
use serde_json::{Value, json};

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

fn client() -> reqwest::Client {
    // The client's reqwest is built for rustls without a provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Creates a picture for `prompt`; answers its generation id.
async fn create(dev: &DevBackend, prompt: &str) -> String {
    let body = json!({
        "provider_id": "pixverse",
        // Every create its own job: no dedup by cache key.
        "force_new": true,
        "config": {
            "generationType": "text_to_image",
            "purpose": "gap_fill",
            "strategy": "once",
            "prompt": prompt,
            "style": {},
            "duration": {},
            "constraints": {},
            "fallback": {"mode": "placeholder", "timeoutMs": 30000},
            "version": 1
        }
    });
    let answer: Value = client()
        .post(format!("{}/api/v1/generations", dev.base_url()))
        .bearer_auth(dev.token())
        .json(&body)
        .send()
        .await
        .expect("the dev backend answers")
        .json()
        .await
        .expect("a generation");
    answer["id"].to_string().trim_matches('"').to_owned()
}

/// Generation `id`'s status, read over HTTP.
async fn status(dev: &DevBackend, id: &str) -> String {
    let answer: Value = client()
        .get(format!("{}/api/v1/generations/{id}", dev.base_url()))
        .bearer_auth(dev.token())
        .send()
        .await
        .expect("the dev backend answers")
        .json()
        .await
        .expect("a generation");
    answer["status"].as_str().unwrap_or_default().to_owned()
}

async fn statuses(dev: &DevBackend, ids: &[String]) -> Vec<String> {
    let mut all = Vec::new();
    for id in ids {
        all.push(status(dev, id).await);
    }
    all
}

fn count(statuses: &[String], wanted: &str) -> usize {
    statuses.iter().filter(|status| *status == wanted).count()
}

#[test]
fn at_most_the_limit_of_jobs_process_at_once_and_the_rest_wait_pending() {
    // Jobs long enough that the four creates all land while the first two still run.
    let job = Duration::from_secs(2);
    let dev = DevBackend::builder()
        .job_latency(MediaKind::Image, job, job)
        .max_running_jobs(2)
        .spawn()
        .expect("a loopback port");
    let (seen_waiting, polls) = block_on(async {
        let mut ids = Vec::new();
        for n in 0..4 {
            ids.push(create(&dev, &format!("lighthouse {n}")).await);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut seen_waiting, mut polls) = (false, 0);
        loop {
            // The statuses are read one request at a time, so a job that ended between two
            // reads may show beside the one that took its slot: the limit is checked on the
            // backend's own count, which changes under one lock.
            let running = dev.stats().running_jobs;
            assert!(
                running <= 2,
                "poll {polls}: {running} running {:?}",
                dev.stats()
            );
            let now = statuses(&dev, &ids).await;
            polls += 1;
            seen_waiting |= count(&now, "processing") == 2 && count(&now, "pending") > 0;
            if count(&now, "completed") == 4 {
                break (seen_waiting, polls);
            }
            assert!(Instant::now() < deadline, "jobs did not finish: {now:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    assert!(
        seen_waiting,
        "no poll of {polls} saw jobs waiting for a slot"
    );
    let stats = dev.stats();
    assert_eq!(stats.peak_running_jobs, 2, "{stats:?}");
    assert_eq!(stats.running_jobs, 0, "{stats:?}");
    assert_eq!(stats.jobs_queued, 2, "{stats:?}");
    // The two late jobs each waited for a first job to end.
    assert!(stats.slot_wait >= job, "{stats:?}");
    assert!(stats.processing_time >= job * 4, "{stats:?}");
}

#[test]
fn a_cancelled_job_frees_its_slot_at_once() {
    // A job far longer than the test's bound: only the cancel lets the second one run.
    let long = Duration::from_secs(600);
    let dev = DevBackend::builder()
        .job_latency(MediaKind::Image, long, long)
        .max_running_jobs(1)
        .spawn()
        .expect("a loopback port");
    block_on(async {
        let first = create(&dev, "first").await;
        let second = create(&dev, "second").await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while status(&dev, &first).await != "processing" {
            assert!(Instant::now() < deadline, "the first job never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status(&dev, &second).await, "pending");
        client()
            .post(format!(
                "{}/api/v1/generations/{first}/cancel",
                dev.base_url()
            ))
            .bearer_auth(dev.token())
            .send()
            .await
            .expect("the dev backend answers");
        while status(&dev, &second).await != "processing" {
            assert!(
                Instant::now() < deadline,
                "the second job never got the slot"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status(&dev, &first).await, "cancelled");
    });
    let stats = dev.stats();
    assert_eq!(stats.peak_running_jobs, 1, "{stats:?}");
    assert_eq!(stats.jobs_queued, 1, "{stats:?}");
}

#[test]
fn without_a_limit_or_latency_jobs_keep_their_fixed_delays() {
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(20))
        .spawn()
        .expect("a loopback port");
    block_on(async {
        let ids = [
            create(&dev, "a").await,
            create(&dev, "b").await,
            create(&dev, "c").await,
        ];
        let deadline = Instant::now() + Duration::from_secs(30);
        while count(&statuses(&dev, &ids).await, "completed") < 3 {
            assert!(Instant::now() < deadline, "jobs did not finish");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let stats = dev.stats();
    assert_eq!(stats.jobs_queued, 0, "{stats:?}");
    assert_eq!(stats.slot_wait, Duration::ZERO, "{stats:?}");
    assert!(stats.peak_running_jobs >= 1, "{stats:?}");
}
