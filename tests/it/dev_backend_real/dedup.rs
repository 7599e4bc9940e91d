//! How the real service shares work: its cache key, its scoped keys and its global dedup.

use super::*;

#[test]
fn the_real_cache_key_gives_another_prompt_the_same_transitions_generation() {
    let dev = fast().real_cache_key(true).spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let first = id_of(
            &api.create(&create_body("a bench at dusk", "park", "bench", "once"))
                .await,
        );
        let other = api
            .create(&create_body("a lake at noon", "park", "bench", "once"))
            .await;
        assert_eq!(id_of(&other), first, "no prompt in the key");
        assert_eq!(other.body["final_prompt"], "a bench at dusk");
        // A reseeded create is a hash miss but the same key.
        let mut reseeded = create_body("a bench at dusk", "park", "bench", "once");
        reseeded["config"]["style"]["pixverse"]["seed"] = json!(7);
        assert_eq!(id_of(&api.create(&reseeded).await), first);
        // The dedup hash has no purpose in it: another purpose with the same prompt is a hit.
        let mut variation = create_body("a bench at dusk", "park", "bench", "once");
        variation["config"]["purpose"] = json!("variation");
        assert_eq!(id_of(&api.create(&variation).await), first);
        // Another purpose and prompt, another scene, `force_new` and `always` are other work.
        variation["config"]["prompt"] = json!("a bench at dawn");
        assert_ne!(id_of(&api.create(&variation).await), first);
        assert_ne!(
            id_of(
                &api.create(&create_body("a bench at dusk", "park", "lake", "once"))
                    .await
            ),
            first
        );
        let forced = with(
            create_body("a bench at dusk", "park", "bench", "once"),
            "force_new",
            json!(true),
        );
        assert_ne!(id_of(&api.create(&forced).await), first);
        let always = create_body("a fountain", "park", "bench", "always");
        let always_id = id_of(&api.create(&always).await);
        assert_ne!(always_id, first);
        // `always` skips the key, not the hash.
        assert_eq!(id_of(&api.create(&always).await), always_id);
    });
    let stats = dev.stats();
    assert_eq!(
        (stats.creates, stats.new_generations, stats.reused),
        (9, 5, 4)
    );

    // The contract's key (the default) has no prompt either; its hash tells prompts apart.
    let contract = fast().spawn().unwrap();
    let api = Api::new(&contract);
    block_on(async {
        let first = id_of(
            &api.create(&create_body("a bench at dusk", "park", "bench", "once"))
                .await,
        );
        let hash = api.generation(first).await["reproducible_hash"].clone();
        let other = id_of(
            &api.create(&create_body("a lake at noon", "park", "bench", "once"))
                .await,
        );
        assert_eq!(other, first, "the contract's key has no prompt either");
        let forced = with(
            create_body("a lake at noon", "park", "bench", "once"),
            "force_new",
            json!(true),
        );
        let forced = id_of(&api.create(&forced).await);
        assert_ne!(forced, first);
        assert_ne!(api.generation(forced).await["reproducible_hash"], hash);
    });
}

#[test]
fn the_real_cache_key_returns_cancelled_work_and_skips_failed_work() {
    let dev = DevBackend::builder()
        .job_delays(Duration::from_secs(60), Duration::from_millis(20))
        .real_cache_key(true)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let body = create_body("a quiet pier", "pier", "boat", "always");
        let id = id_of(&api.create(&body).await);
        let cancelled = api
            .call(
                Method::POST,
                &format!("/api/v1/generations/{id}/cancel"),
                Some(&api.token),
                None,
            )
            .await;
        assert_eq!(cancelled.body["status"], "cancelled", "{}", cancelled.body);
        let again = api.create(&body).await;
        assert_eq!(
            id_of(&again),
            id,
            "a dedup hash hit that is not failed is returned"
        );
        assert_eq!(again.body["status"], "cancelled");
    });

    let dev = fast()
        .real_cache_key(true)
        .reject_prompts_containing("forbidden")
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let refused = create_body("a forbidden door", "hall", "door", "once");
        let id = id_of(&api.create(&refused).await);
        let failed = api.until_status(id, "failed").await;
        assert_eq!(failed["error_code"], "content_prompt_rejected");
        let retried = id_of(&api.create(&refused).await);
        assert_ne!(retried, id, "a failed hash hit is skipped");
        api.until_status(retried, "failed").await;
        let other = id_of(
            &api.create(&create_body("an open door", "hall", "door", "once"))
                .await,
        );
        assert_ne!(other, retried, "a failed cache key hit is skipped");
        assert_ne!(other, id);
    });
}

#[test]
fn scoped_keys_are_unknown_playthroughs_and_backend_accounts() {
    let dev = fast()
        .real_cache_key(true)
        .global_dedup(true)
        .extra_account(OTHER)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let playthrough = |pt: &str, prompt: &str| {
            with(
                create_body(prompt, "romance_5", "romance_6", "per_playthrough"),
                "player_context",
                json!({"playthroughId": pt, "playerId": "p-7"}),
            )
        };
        let first = id_of(&api.create(&playthrough("pt-1", "a confession")).await);
        let second = id_of(&api.create(&playthrough("pt-2", "a refusal")).await);
        assert_eq!(second, first, "every playthrough is pt:unknown");
        let stranger = id_of(&api.create_as(OTHER, &playthrough("pt-9", "a shrug")).await);
        assert_eq!(stranger, first, "and every user's too");

        let player = |player: &str, prompt: &str| {
            with(
                create_body(prompt, "romance_5", "romance_6", "per_player"),
                "player_context",
                json!({"playthroughId": "pt-1", "playerId": player}),
            )
        };
        let mine = id_of(&api.create(&player("p-1", "a smile")).await);
        assert_ne!(mine, first);
        let my_other_player = id_of(&api.create(&player("p-2", "a frown")).await);
        assert_eq!(
            my_other_player, mine,
            "the key's player is the backend account"
        );
        let theirs = id_of(&api.create_as(OTHER, &player("p-1", "a wink")).await);
        assert_ne!(theirs, mine, "another account is another player");
        let generation = api
            .get_as(OTHER, &format!("/api/v1/generations/{theirs}"))
            .await;
        assert_eq!(
            generation.body["user"],
            json!({"type": "user", "id": 2, "meta": null})
        );
    });
}

#[test]
fn global_dedup_hands_out_work_its_reader_may_not_read() {
    let dev = fast()
        .global_dedup(true)
        .extra_account(OTHER)
        .spawn()
        .unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let login = api
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(&json!({"username": "user2", "password": DEV_PASSWORD})),
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        assert_eq!(login.body["access_token"], OTHER);
        assert_eq!(login.body["user"]["id"], 2);
        let body = create_body("a lighthouse in a storm", "cliff", "lamp", "once");
        let id = id_of(&api.create(&body).await);
        let done = api.until_status(id, "completed").await;
        assert_eq!(done["user"], json!({"type": "user", "id": 1, "meta": null}));
        let asset = done["asset"]["id"].as_u64().unwrap();

        let theirs = api.create_as(OTHER, &body).await;
        assert_eq!(id_of(&theirs), id, "dedup looks across users");
        assert_eq!(theirs.body["user"]["id"], 1);
        let read = api
            .get_as(OTHER, &format!("/api/v1/generations/{id}"))
            .await;
        assert_eq!(read.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(read.body["code"], "internal_error");
        assert_eq!(
            read.message(),
            "Failed to get generation: Cannot access other users' generations"
        );
        let read = api.get_as(OTHER, &format!("/api/v1/assets/{asset}")).await;
        assert_eq!(read.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            read.message(),
            "Failed to get asset: Cannot access other users' assets"
        );
        let file = api
            .get_as(OTHER, &format!("/api/v1/assets/{asset}/file"))
            .await;
        assert_eq!(file.status, StatusCode::FORBIDDEN);
        let cancel = api
            .call(
                Method::POST,
                &format!("/api/v1/generations/{id}/cancel"),
                Some(OTHER),
                None,
            )
            .await;
        assert_eq!(cancel.status, StatusCode::INTERNAL_SERVER_ERROR);
        // Its owner reads it all.
        assert_eq!(
            api.get(&format!("/api/v1/assets/{asset}")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            api.get(&format!("/api/v1/assets/{asset}/file"))
                .await
                .status,
            StatusCode::OK
        );
        // `force_new` gives the second account its own.
        let own = id_of(
            &api.create_as(OTHER, &with(body, "force_new", json!(true)))
                .await,
        );
        assert_ne!(own, id);
        let read = api
            .get_as(OTHER, &format!("/api/v1/generations/{own}"))
            .await;
        assert_eq!(read.status, StatusCode::OK);
    });
    assert_eq!(dev.stats().foreign_refused, 4);

    // Without global dedup each account has its own work, and another's is not found.
    let dev = fast().extra_account(OTHER).spawn().unwrap();
    let api = Api::new(&dev);
    block_on(async {
        let body = create_body("a lighthouse in a storm", "cliff", "lamp", "once");
        let id = id_of(&api.create(&body).await);
        let theirs = api.create_as(OTHER, &body).await;
        assert_ne!(id_of(&theirs), id);
        assert_eq!(theirs.body["user"]["id"], 2);
        let read = api
            .get_as(OTHER, &format!("/api/v1/generations/{id}"))
            .await;
        assert_eq!(read.status, StatusCode::NOT_FOUND);
        let list = api.get_as(OTHER, "/api/v1/generations").await;
        assert_eq!(list.body["total"], 1, "{}", list.body);
    });
}
