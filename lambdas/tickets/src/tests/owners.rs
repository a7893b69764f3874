//! Whose tickets a caller sees: the Facebook login, the same through
//! either region's identity pool, and tickets kept under an identity id
//! moved to it (`crate::owner`).

use super::*;

#[tokio::test]
async fn a_facebook_user_has_the_same_tickets_through_either_regions_pool() {
    let app = app(Fault::None);
    let primary = "eu-west-1:00000000-0000-4000-8000-00000000000a";
    let secondary = "ap-southeast-1:00000000-0000-4000-8000-00000000000b";
    let call = new_ticket("filed through the primary's pool").facebook(primary, "42");
    let (status, created, _) = send(&app, &call).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["owner"], format!("graph.facebook.com:{FB_APP}:42"));
    let (_, listed, _) = send(
        &app,
        &Call::new("GET", "/tickets").facebook(secondary, "42"),
    )
    .await;
    assert_eq!(listed["tickets"][0]["id"], created["id"]);
    let one = Call::new(
        "GET",
        format!("/tickets/{}", created["id"].as_str().unwrap()),
    );
    assert_eq!(
        send(&app, &one.clone().facebook(secondary, "42")).await.0,
        StatusCode::OK
    );
    // Another Facebook user, or the same user id of another app, sees none.
    for other in [
        Call::new("GET", "/tickets").facebook(secondary, "43"),
        Call::new("GET", "/tickets").by(Some(primary)),
    ] {
        let (_, listed, _) = send(&app, &other).await;
        assert_eq!(listed["tickets"], json!([]), "{listed}");
    }
    assert_eq!(
        send(&app, &one.facebook(primary, "43")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn tickets_kept_under_an_identity_id_move_to_the_owner_key_once() {
    let app = app(Fault::None);
    let identity = "eu-west-1:00000000-0000-4000-8000-00000000000c";
    // Filed before the owner key: under the identity id (three pages' worth
    // would be slow here; the mover pages by 100 and the memory store
    // honours the limit, so 3 tickets exercise the same loop).
    let mut ids = Vec::new();
    for n in 0..3 {
        let (_, t, _) = send(
            &app,
            &new_ticket(&format!("an older ticket {n}")).by(Some(identity)),
        )
        .await;
        ids.push(t["id"].as_str().unwrap().to_owned());
    }
    // The same identity, now seen with its Facebook login.
    let (status, listed, _) =
        send(&app, &Call::new("GET", "/tickets").facebook(identity, "77")).await;
    assert_eq!(status, StatusCode::OK);
    let got: Vec<&str> = listed["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    // Newest first: by id (two made in one millisecond order by their
    // random part, as the API orders them).
    ids.sort_by(|a, b| b.cmp(a));
    assert_eq!(got, ids);
    assert!(
        listed["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["owner"] == format!("graph.facebook.com:{FB_APP}:77"))
    );
    // Nothing is left under the identity id, and a second pass is a no-op.
    let (_, left, _) = send(&app, &Call::new("GET", "/tickets").by(Some(identity))).await;
    assert_eq!(left["tickets"], json!([]));
    let (_, again, _) = send(&app, &Call::new("GET", "/tickets").facebook(identity, "77")).await;
    assert_eq!(again["tickets"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_move_cut_short_is_finished_by_the_next_request() {
    let app = app(Fault::None);
    let identity = "eu-west-1:00000000-0000-4000-8000-00000000000d";
    let (_, t, _) = send(&app, &new_ticket("an older ticket").by(Some(identity))).await;
    // The copy was made but the old item not yet deleted when it stopped.
    let copy = serde_json::from_value::<crate::model::Ticket>(json!({
        "owner": format!("graph.facebook.com:{FB_APP}:88"),
        "id": t["id"], "description": t["description"], "priority": t["priority"],
        "status": t["status"], "createdAt": t["createdAt"], "region": t["region"],
    }))
    .unwrap();
    app.store.create(&copy).await.unwrap();
    app.store.fail(true);
    let (status, _, _) = send(&app, &Call::new("GET", "/tickets").facebook(identity, "88")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    app.store.fail(false);
    let (_, listed, _) = send(&app, &Call::new("GET", "/tickets").facebook(identity, "88")).await;
    assert_eq!(listed["tickets"].as_array().unwrap().len(), 1, "{listed}");
    let (_, left, _) = send(&app, &Call::new("GET", "/tickets").by(Some(identity))).await;
    assert_eq!(left["tickets"], json!([]));
}
