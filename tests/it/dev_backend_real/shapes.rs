//! The shapes of the real service's events, answers and scenes, its profile, and the client against it.

use super::*;

#[test]
fn events_and_answers_take_the_services_shapes() {
    let dev = fast()
        .real_event_shapes(true)
        .reject_prompts_containing("forbidden")
        .extra_account(OTHER)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let events = listen(&dev).await;
        let greeting = events.lock().unwrap()[0].clone();
        assert_eq!(greeting["type"], "connected");
        let mine = id_of(&api.create(&create_body("a harbor", "a", "b", "once")).await);
        let theirs = id_of(
            &api.create_as(OTHER, &create_body("a tavern", "a", "b", "once"))
                .await,
        );
        let refused = id_of(
            &api.create(&create_body("a forbidden cave", "c", "d", "once"))
                .await,
        );
        for id in [mine, theirs] {
            until_event(&events, "job:completed", |e| {
                e["type"] == "job:completed" && e["generation_id"] == id
            })
            .await;
        }
        until_event(&events, "job:failed", |e| e["type"] == "job:failed").await;

        let of = |id: u64, kind: &str| {
            events_of(&events, id)
                .into_iter()
                .find(|e| e["type"] == kind)
                .unwrap_or_else(|| panic!("no {kind} for {id}"))
        };
        let created = of(mine, "job:created");
        assert_eq!(created["status"], Value::Null);
        assert!(created.as_object().unwrap().contains_key("status"));
        assert_eq!(created["user_id"], 1);
        assert_eq!(created["data"]["job_id"], mine);
        assert_eq!(created["data"]["params"]["prompt"], "a harbor");
        assert_eq!(created["data"]["params"]["seed"], 42);
        let started = of(mine, "job:started");
        assert_eq!(started["status"], "processing");
        assert_eq!(started["data"]["status"], "processing");
        let asset = of(mine, "asset:created");
        assert_eq!(asset["media_type"], Value::Null);
        assert!(asset.get("generation_id").is_none(), "{asset}");
        assert_eq!(asset["data"]["generation_id"], mine);
        assert!(asset["asset_id"].is_u64());
        assert_eq!(of(mine, "job:completed")["status"], "completed");
        // The socket carries the other user's events too.
        assert_eq!(of(theirs, "job:started")["user_id"], 2);
        assert_eq!(of(theirs, "asset:created")["data"]["user_id"], 2);

        let failed = of(refused, "job:failed");
        assert!(failed.get("error").is_none() && failed.get("error_code").is_none());
        assert_eq!(failed["data"]["error_code"], "content_prompt_rejected");
        assert!(
            failed["data"]["error"]
                .as_str()
                .unwrap()
                .contains("pixverse")
        );
        assert!(
            events_of(&events, refused)
                .iter()
                .all(|e| e["type"] != "job:started"),
            "refused at submit"
        );

        let answer = api.generation(mine).await;
        assert_eq!(
            answer["account"],
            json!({"type": "account", "id": 1, "meta": null})
        );
        assert_eq!(answer["account_email"], "accountless+pixverse@pixsim.local");
        assert_eq!(answer["attempt_count"], 1);
        for key in ["wait_reason", "deferred_action"] {
            assert!(answer.as_object().unwrap().contains_key(key), "{key}");
            assert_eq!(answer[key], Value::Null);
        }
        let asset_id = answer["asset"]["id"].as_u64().unwrap();
        assert_eq!(
            api.get(&format!("/api/v1/assets/{asset_id}")).await.body["user_id"],
            1
        );
        let list = api.get("/api/v1/generations").await;
        assert_eq!(list.body["total"], 2, "the caller's own: {}", list.body);
        assert!(list.body["generations"][0].get("attempt_count").is_some());
    });

    // The contract's shapes by default.
    let dev = fast().spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let events = listen(&dev).await;
        let id = id_of(&api.create(&create_body("a harbor", "a", "b", "once")).await);
        until_event(&events, "job:completed", |e| e["type"] == "job:completed").await;
        let all = events_of(&events, id);
        assert_eq!(all[0]["status"], "pending");
        let asset = all.iter().find(|e| e["type"] == "asset:created").unwrap();
        assert_eq!(asset["media_type"], "image");
        assert!(api.generation(id).await.get("account").is_none());
    });
}

#[test]
fn scenes_report_remote_media_or_null() {
    let scene = json!({
        "id": 1, "title": "Park", "startNodeId": 10,
        "nodes": [
            {"id": 10, "type": "video", "label": "Bench", "assetId": "1", "meta": {}},
            {"id": 11, "type": "video", "label": "Confess", "assetId": 2,
             "mediaUrl": "/api/v1/assets/2/file", "meta": {}},
            {"id": "12", "type": "video", "label": "Leave", "meta": {}}
        ],
        "edges": [
            {"id": 7, "from": 10, "to": 11, "label": "Confess", "weight": 2.0,
             "conditions": {}, "effects": {}, "isDefault": true},
            {"id": "8", "from": "10", "to": "12", "label": "Leave"}
        ]
    });
    let dev = fast()
        .premade_asset(bevy_asset_provider::MediaKind::Image, ["loc:park"])
        .scene("park", scene.to_string())
        .scene_media(SceneMediaMode::RemoteOrNull)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        // The premade asset is 1; the first generated one is 2.
        let id = id_of(
            &api.create(&create_body("a bench", "10", "11", "once"))
                .await,
        );
        let done = api.until_status(id, "completed").await;
        assert_eq!(done["asset"]["id"], 2);
        let asset = api.get("/api/v1/assets/2").await.body;
        let remote = asset["remote_url"]
            .as_str()
            .expect("a remote url")
            .to_owned();
        assert!(
            remote.starts_with(&format!("{}/cdn/", dev.base_url())),
            "{remote}"
        );

        let served = api.get("/api/v1/game/scenes/park").await;
        assert_eq!(served.status, StatusCode::OK);
        let served = served.body;
        assert_eq!(
            (&served["id"], &served["startNodeId"]),
            (&json!("1"), &json!("10"))
        );
        let nodes = served["nodes"].as_array().unwrap();
        assert_eq!(nodes[0]["id"], "10");
        assert_eq!(
            nodes[0]["mediaUrl"],
            Value::Null,
            "a pre-made asset has no remote url"
        );
        assert_eq!(nodes[1]["mediaUrl"], json!(remote));
        assert_eq!(nodes[1]["media"][0]["url"], json!(remote));
        assert_eq!(nodes[2]["mediaUrl"], Value::Null);
        for edge in served["edges"].as_array().unwrap() {
            assert!(edge.get("weight").is_none(), "{edge}");
            for key in ["isDefault", "conditions", "effects"] {
                assert_eq!(edge[key], Value::Null, "{key}");
            }
            assert!(edge["id"].is_string() && edge["from"].is_string() && edge["to"].is_string());
        }

        // The CDN needs no token and serves the asset's bytes.
        let file = api.http.get(&remote).send().await.unwrap();
        assert_eq!(file.status(), StatusCode::OK);
        let bytes = file.bytes().await.unwrap();
        assert_eq!(json!(hex::encode(Sha256::digest(&bytes))), asset["sha256"]);
    });

    // The client reads the real shape as a scene graph.
    let source = crate::common::client(&dev).build().unwrap();
    let graph = block_on(bevy_asset_provider::scene::SceneGraph::from_backend(
        &source, "park",
    ))
    .expect("the scene parses");
    assert_eq!(graph.start_node().id, "10");
    assert_eq!(graph.choices("10").count(), 2);

    // By default the scene is served as written.
    let dev = fast().scene("park", scene.to_string()).spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let served = api.get("/api/v1/game/scenes/park").await.body;
        assert_eq!(served, scene);
        assert_eq!(api.get("/cdn/anything").await.status, StatusCode::NOT_FOUND);
    });
}

#[test]
fn the_real_service_profile_turns_everything_on() {
    let dev = DevBackend::like_real_service()
        .job_delays(Duration::from_millis(5), Duration::from_millis(20))
        .server_retry_delay(Duration::from_millis(10))
        .extra_account(OTHER)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let game = api
            .call(
                Method::POST,
                "/api/v1/game/assets/request",
                Some(&api.token),
                Some(&json!({"scene_id": "a"})),
            )
            .await;
        assert_eq!(game.status, StatusCode::NOT_FOUND);
        let numeric = with(
            create_body("a door", "a", "b", "once"),
            "from_scene",
            json!({"id": 5}),
        );
        assert_eq!(
            api.create(&numeric).await.status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let nope = with(
            create_body("a cat", "a", "b", "once"),
            "provider_id",
            json!("nope"),
        );
        assert_eq!(
            api.create(&nope).await.status,
            StatusCode::INTERNAL_SERVER_ERROR
        );

        let first = id_of(
            &api.create(&create_body("a bench", "park", "bench", "once"))
                .await,
        );
        let done = api.until_status(first, "completed").await;
        assert_eq!(done["attempt_count"], 1);
        let theirs = id_of(
            &api.create_as(OTHER, &create_body("a lake", "park", "bench", "once"))
                .await,
        );
        assert_eq!(theirs, first, "global dedup by the real cache key");
        let read = api
            .get_as(OTHER, &format!("/api/v1/generations/{first}"))
            .await;
        assert_eq!(read.status, StatusCode::INTERNAL_SERVER_ERROR);

        let refused = id_of(
            &api.create(&create_body("forbidden", "a", "b", "always"))
                .await,
        );
        let failed = api.until_status(refused, "failed").await;
        assert_eq!(failed["error_code"], "content_prompt_rejected");
        let moderated = id_of(
            &api.create(&create_body("moderated", "a", "b", "always"))
                .await,
        );
        let failed = api
            .until(moderated, "the last retry's failure", |g| {
                g["status"] == "failed" && g["retry_count"] == 3
            })
            .await;
        assert_eq!(failed["error_code"], "content_render_moderated");
        let cancel = api
            .call(
                Method::POST,
                &format!("/api/v1/generations/{first}/cancel"),
                Some(&api.token),
                None,
            )
            .await;
        assert_eq!(cancel.status, StatusCode::CONFLICT);
    });
    let generation = dev.generation("1").expect("generation 1");
    assert_eq!(generation.final_prompt.as_deref(), Some("a bench"));
    assert!(dev.generation("999").is_none());
    assert_eq!(dev.stats().reused, 1);
}

#[test]
fn the_client_gets_media_from_the_real_service_profile() {
    use bevy_asset_provider::prelude::*;
    use bevy_asset_provider::source::SourceKind;
    let dev = DevBackend::like_real_service()
        .job_delays(Duration::from_millis(5), Duration::from_millis(20))
        .spawn()
        .unwrap();
    let source = crate::common::client(&dev)
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    let mut app = crate::common::headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source)
            .with_default_timeout(Duration::from_secs(15)),
    );
    app.update();
    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().scene("park").prompt("a park at dusk"))
        .id();
    crate::common::until_status(&mut app, entity, TaskStatus::Completed);
    assert_eq!(
        crate::common::task(&app, entity).source(),
        Some(SourceKind::Generated)
    );
}
