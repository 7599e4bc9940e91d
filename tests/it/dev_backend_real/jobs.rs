//! Jobs as the real service runs them: moderation retries, lost cancel races, refused creates, the rate limit and numeric scene ids.

use super::*;

#[test]
fn a_moderated_job_fails_then_the_server_retries_it() {
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(150), Duration::from_millis(30))
        .moderate_prompts_containing("moderated", 1)
        .server_retry_delay(Duration::from_millis(200))
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let events = listen(&dev).await;
        let id = id_of(
            &api.create(&create_body("a moderated scene", "a", "b", "always"))
                .await,
        );
        // Every state GET shows, in order.
        let mut seen: Vec<(String, u64, Value)> = Vec::new();
        let done = api
            .until(id, "completion", |g| {
                let state = (
                    g["status"].as_str().unwrap_or("").to_owned(),
                    g["retry_count"].as_u64().unwrap_or(99),
                    g["error_code"].clone(),
                );
                if seen.last() != Some(&state) {
                    seen.push(state);
                }
                g["status"] == "completed"
            })
            .await;
        let failed = seen
            .iter()
            .position(|(status, retries, code)| {
                status == "failed" && *retries == 0 && code == "content_render_moderated"
            })
            .unwrap_or_else(|| panic!("no moderated failure in {seen:?}"));
        let pending = seen
            .iter()
            .position(|(status, retries, _)| status == "pending" && *retries == 1)
            .unwrap_or_else(|| panic!("no retry in {seen:?}"));
        assert!(failed < pending, "{seen:?}");
        assert_eq!(done["retry_count"], 1);
        assert!(done["asset"]["id"].is_u64());
        until_event(&events, "job:completed", |e| e["type"] == "job:completed").await;
        let kinds: Vec<String> = events_of(&events, id)
            .iter()
            .map(|e| e["type"].as_str().unwrap_or("").to_owned())
            .collect();
        assert_eq!(
            kinds,
            [
                "job:created",
                "job:started",
                "job:failed",
                "job:started",
                "asset:created",
                "job:completed"
            ],
            "no job:retrying"
        );
    });
    assert_eq!(dev.stats().server_retries, 1);

    // Past its retries it stays failed.
    let dev = fast()
        .moderate_prompts_containing("moderated", 5)
        .server_retry_delay(Duration::from_millis(20))
        .max_server_retries(1)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let id = id_of(
            &api.create(&create_body("moderated again", "a", "b", "always"))
                .await,
        );
        api.until(id, "the second failure", |g| {
            g["status"] == "failed" && g["retry_count"] == 1
        })
        .await;
        // It stays so for many retry delays.
        let watch = Instant::now();
        while watch.elapsed() < Duration::from_millis(300) {
            assert_eq!(api.generation(id).await["status"], "failed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert_eq!(dev.stats().server_retries, 1);
}

#[test]
fn a_cancel_loses_the_race_and_the_job_completes() {
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(400))
        .cancel_loses_race(true)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let events = listen(&dev).await;
        let id = id_of(&api.create(&create_body("a race", "a", "b", "always")).await);
        api.until_status(id, "processing").await;
        let cancel_path = format!("/api/v1/generations/{id}/cancel");
        let cancel = api
            .call(Method::POST, &cancel_path, Some(&api.token), None)
            .await;
        assert_eq!(cancel.status, StatusCode::OK);
        assert_eq!(cancel.body["status"], "processing", "{}", cancel.body);
        assert_eq!(cancel.body["deferred_action"], "cancel");
        let done = api.until_status(id, "completed").await;
        assert!(done["asset"]["id"].is_u64(), "the paid result: {done}");
        until_event(&events, "job:completed", |e| {
            e["type"] == "job:completed" && e["generation_id"] == id
        })
        .await;
        assert!(
            events_of(&events, id)
                .iter()
                .all(|e| e["type"] != "job:cancelled")
        );
        let late = api
            .call(Method::POST, &cancel_path, Some(&api.token), None)
            .await;
        assert_eq!(late.status, StatusCode::CONFLICT);
        assert_eq!(late.body["code"], "conflict");
        assert_eq!(late.message(), "Generation already completed");
    });
    assert_eq!(dev.stats().cancels_lost, 1);

    // By default a processing job's cancel wins, and a completed one's answers the generation.
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(300))
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let id = id_of(&api.create(&create_body("a race", "a", "b", "always")).await);
        api.until_status(id, "processing").await;
        let cancel_path = format!("/api/v1/generations/{id}/cancel");
        api.call(Method::POST, &cancel_path, Some(&api.token), None)
            .await;
        api.until_status(id, "cancelled").await;
        let other = id_of(
            &api.create(&create_body("no race", "a", "b", "always"))
                .await,
        );
        api.until_status(other, "completed").await;
        let late = api
            .call(
                Method::POST,
                &format!("/api/v1/generations/{other}/cancel"),
                Some(&api.token),
                None,
            )
            .await;
        assert_eq!(late.status, StatusCode::OK);
        assert_eq!(late.body["status"], "completed");
    });
}

#[test]
fn invalid_creates_answer_500_like_the_service() {
    let dev = fast().invalid_creates_answer_500(true).spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let mut no_prompt = create_body("", "a", "b", "once");
        no_prompt["config"]
            .as_object_mut()
            .unwrap()
            .remove("prompt");
        let reply = api.create(&no_prompt).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(reply.body["code"], "internal_error");
        assert_eq!(
            reply.message(),
            "Failed to create generation: text_to_image operation requires a non-empty 'prompt'"
        );
        let empty = api.create(&create_body("  ", "a", "b", "once")).await;
        assert_eq!(empty.status, StatusCode::INTERNAL_SERVER_ERROR);

        let nope = with(
            create_body("a cat", "a", "b", "once"),
            "provider_id",
            json!("nope"),
        );
        let reply = api.create(&nope).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            reply.message(),
            "Failed to create generation: Provider 'nope' not found or not registered"
        );

        let mut animate = create_body("make it move", "a", "b", "once");
        animate["config"]["generationType"] = json!("image_to_video");
        let reply = api.create(&animate).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            reply.message(),
            "Failed to create generation: IMAGE_TO_VIDEO operation requires 'composition_assets' \
             list with at least 1 entry"
        );
        animate["config"]["composition_assets"] = json!([{"asset_id": 1}]);
        assert_eq!(api.create(&animate).await.status, StatusCode::CREATED);

        let mut audio = create_body("a bell", "a", "b", "once");
        audio["config"]["generationType"] = json!("text_to_audio");
        let reply = api.create(&audio).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            reply.body
        );
        assert_eq!(
            reply.body["fields"][0]["loc"],
            json!(["body", "config", "generationType"])
        );
        let fake = with(
            create_body("a cat", "a", "b", "once"),
            "provider_id",
            json!("fake"),
        );
        assert_eq!(api.create(&fake).await.status, StatusCode::CREATED);
    });

    // The contract's answers by default: 422 without a prompt, audio accepted.
    let dev = fast().spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let reply = api.create(&create_body("", "a", "b", "once")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        let mut audio = create_body("a bell", "a", "b", "once");
        audio["config"]["generationType"] = json!("text_to_audio");
        assert_eq!(api.create(&audio).await.status, StatusCode::CREATED);
    });
}

/// `"Rate limit exceeded. Try again in N seconds."` → N.
fn wait_seconds(message: &str) -> u64 {
    message
        .strip_prefix("Rate limit exceeded. Try again in ")
        .and_then(|rest| rest.strip_suffix(" seconds."))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not the service's message: {message:?}"))
}

#[test]
fn creates_over_the_per_minute_limit_answer_429() {
    let dev = fast()
        .create_rate_limit(3, false)
        .extra_account(OTHER)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        for n in 0..3 {
            let body = create_body(&format!("frame {n}"), "a", "b", "always");
            assert_eq!(api.create(&body).await.status, StatusCode::CREATED);
        }
        let refused = api
            .create(&create_body("frame 3", "a", "b", "always"))
            .await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.body["code"], "http_429");
        let seconds = wait_seconds(refused.message());
        assert!((1..=60).contains(&seconds), "{seconds}");
        assert!(!refused.headers.contains_key(RETRY_AFTER));
        // The limit is per user.
        let theirs = api
            .create_as(OTHER, &create_body("frame 0", "a", "b", "always"))
            .await;
        assert_eq!(theirs.status, StatusCode::CREATED);
    });
    let stats = dev.stats();
    assert_eq!((stats.creates, stats.rate_limited), (4, 1));

    let dev = fast().create_rate_limit(1, true).spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        assert_eq!(
            api.create(&create_body("one", "a", "b", "always"))
                .await
                .status,
            StatusCode::CREATED
        );
        let refused = api.create(&create_body("two", "a", "b", "always")).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        let header = refused.headers[RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap();
        assert_eq!(header, wait_seconds(refused.message()));
    });
}

#[test]
fn numeric_scene_ids_are_refused_with_the_field() {
    let dev = fast().reject_numeric_ids(true).spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let numeric = with(
            create_body("a door", "a", "b", "once"),
            "from_scene",
            json!({"id": 5}),
        );
        let reply = api.create(&numeric).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.body["code"], "validation_error");
        assert_eq!(reply.message(), "Invalid request data");
        assert_eq!(reply.body["detail"], "One or more fields failed validation");
        assert_eq!(
            reply.body["fields"],
            json!([{"loc": ["body", "from_scene", "id"], "msg": "Input should be a valid string",
                "type": "string_type"}])
        );
        let both = with(numeric, "to_scene", json!({"id": 6}));
        let reply = api.create(&both).await;
        assert_eq!(
            reply.body["fields"][1]["loc"],
            json!(["body", "to_scene", "id"])
        );
        let text = with(
            create_body("a door", "5", "6", "once"),
            "force_new",
            json!(true),
        );
        assert_eq!(api.create(&text).await.status, StatusCode::CREATED);
    });
    assert_eq!(dev.stats().creates, 1);

    let dev = fast().spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let numeric = with(
            create_body("a door", "a", "b", "once"),
            "from_scene",
            json!({"id": 5}),
        );
        assert_eq!(api.create(&numeric).await.status, StatusCode::CREATED);
    });
}
