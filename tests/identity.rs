//! Identity that survives the primary's loss (README, "Identity across
//! regions"): through the real binary and the official Cognito client
//! against a real sandbox after `up`, with the primary frozen and with it
//! killed: a user who never logged in logs in through the secondary's
//! pool, files a ticket and sees it; a user with tickets from before the
//! outage logs in afresh and sees them; after the primary returns both see
//! all their tickets in both regions; and neither ever sees the other's,
//! through the API name or either region's own domain.

mod common;

use std::time::Duration;

use aws_credential_types::Credentials;
use common::{APP_ID, PRIMARY, SECONDARY, TestSandbox, eventually, signed_call};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// Heavy: two-region sandboxes with an outage each; one at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Stack {
    sb: TestSandbox,
    api: String,
    /// Region → identity pool id.
    pools: Vec<(String, String)>,
}

fn up() -> Stack {
    let sb = TestSandbox::start();
    let doc = common::up_json(&sb);
    let pools: Vec<(String, String)> = doc["next"]["identityPools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["region"].as_str().unwrap().to_owned(),
                p["identityPoolId"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(pools.len(), 2, "{doc:#}");
    assert!(pools[0].1.starts_with("eu-west-1:") && pools[1].1.starts_with("ap-southeast-1:"));
    Stack {
        api: doc["next"]["apiUrl"].as_str().unwrap().to_owned(),
        sb,
        pools,
    }
}

impl Stack {
    fn pool(&self, region: &str) -> &str {
        &self.pools.iter().find(|(r, _)| r == region).unwrap().1
    }

    /// Logs `user` in through `region`'s pool (and its Facebook stand-in),
    /// as the web UI does.
    async fn login(&self, region: &str, user: &str) -> (Credentials, String) {
        let (creds, id) =
            common::facebook_login_in(&self.sb, region, self.pool(region), user).await;
        assert!(id.starts_with(&format!("{region}:")), "{id}");
        (creds, id)
    }

    /// Which region the API name serves from now (`/health` through the edge).
    async fn serving(&self) -> Option<String> {
        let resp = reqwest::Client::new()
            .get(format!("{}/health", self.api))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .ok()?;
        resp.headers()
            .get("x-wildrydes-region")
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// A signed call through the API name, signed for `region`.
    async fn call(
        &self,
        region: &str,
        creds: &Credentials,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let resp = signed_call(
            &format!("{}{path}", self.api),
            method,
            None,
            region,
            creds,
            body,
        )
        .await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// The descriptions of a user's tickets through `region`'s own domain
    /// (`<region>.api.<domain>` at the region's address).
    async fn tickets_in(&self, region: &str, creds: &Credentials) -> Vec<String> {
        let address = self.sb.sandbox.state.topology.region(region).unwrap().url();
        let host = format!("{region}.api.wildrydes.test");
        let resp = signed_call(
            &format!("{address}/tickets"),
            "GET",
            Some(&host),
            region,
            creds,
            None,
        )
        .await;
        assert_eq!(resp.status(), 200, "{region}");
        descriptions(&resp.json().await.unwrap())
    }

    fn cli(&self, args: &[&str]) {
        let out = self.sb.cli(args);
        assert!(out.status.success(), "{args:?}: {}", common::text(&out));
    }
}

fn descriptions(listed: &Value) -> Vec<String> {
    let mut out: Vec<String> = listed["tickets"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t["description"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

async fn file(stack: &Stack, region: &str, creds: &Credentials, text: &str) {
    let body = json!({"description": text, "priority": "low"}).to_string();
    let (status, created) = stack
        .call(region, creds, "POST", "/tickets", Some(&body))
        .await;
    assert_eq!(status, 201, "{created}");
}

async fn list(stack: &Stack, region: &str, creds: &Credentials) -> Vec<String> {
    let (status, listed) = stack.call(region, creds, "GET", "/tickets", None).await;
    assert_eq!(status, 200, "{listed}");
    descriptions(&listed)
}

/// The whole story, with the primary taken down by `down` and brought
/// back by `up`.
async fn survives(outage: &str, recovery: &str) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let stack = up();
    eventually("the primary to serve", WAIT, || async {
        (stack.serving().await.as_deref() == Some(PRIMARY)).then_some(())
    })
    .await;

    // Before: Ann files a ticket through the primary's pool.
    let (ann, ann_primary_id) = stack.login(PRIMARY, "10000000301").await;
    file(&stack, PRIMARY, &ann, "Ann's ticket from before the outage").await;
    // It reaches the secondary before the lights go out.
    eventually("Ann's ticket to replicate", WAIT, || async {
        (stack.tickets_in(SECONDARY, &ann).await.len() == 1).then_some(())
    })
    .await;

    stack.cli(&["sandbox", outage, PRIMARY]);
    let (bea, ann2) = async {
        eventually("the secondary to serve", WAIT, || async {
            (stack.serving().await.as_deref() == Some(SECONDARY)).then_some(())
        })
        .await;
        // Bea never logged in: she does now, through the secondary's pool.
        let (bea, _) = stack.login(SECONDARY, "10000000302").await;
        file(&stack, SECONDARY, &bea, "Bea's ticket during the outage").await;
        assert_eq!(
            list(&stack, SECONDARY, &bea).await,
            ["Bea's ticket during the outage"]
        );
        // Ann logs in afresh, through the secondary's pool (a new identity
        // id), and sees her ticket from before.
        let (ann2, ann_secondary_id) = stack.login(SECONDARY, "10000000301").await;
        assert_ne!(ann2.access_key_id(), ann.access_key_id());
        assert_ne!(ann_secondary_id, ann_primary_id);
        assert_eq!(
            list(&stack, SECONDARY, &ann2).await,
            ["Ann's ticket from before the outage"]
        );
        file(&stack, SECONDARY, &ann2, "Ann's ticket during the outage").await;
        (bea, ann2)
    }
    .await;
    stack.cli(&["sandbox", recovery, PRIMARY]);

    // After: the primary serves again; both users see all their tickets,
    // in both regions, whichever pool they logged in through.
    eventually("the primary to serve again", WAIT, || async {
        (stack.serving().await.as_deref() == Some(PRIMARY)).then_some(())
    })
    .await;
    let ann_all = vec![
        "Ann's ticket during the outage".to_owned(),
        "Ann's ticket from before the outage".to_owned(),
    ];
    let (bea_primary, _) = stack.login(PRIMARY, "10000000302").await;
    for region in [PRIMARY, SECONDARY] {
        for creds in [&ann, &ann2] {
            eventually("Ann's tickets in every region", WAIT, || async {
                (stack.tickets_in(region, creds).await == ann_all).then_some(())
            })
            .await;
        }
        for creds in [&bea, &bea_primary] {
            eventually("Bea's ticket in every region", WAIT, || async {
                (stack.tickets_in(region, creds).await == ["Bea's ticket during the outage"])
                    .then_some(())
            })
            .await;
        }
    }
    assert_eq!(
        list(&stack, PRIMARY, &bea_primary).await,
        ["Bea's ticket during the outage"]
    );

    // Never another's: Bea cannot open Ann's tickets by id, anywhere.
    let (_, anns) = stack.call(PRIMARY, &ann, "GET", "/tickets", None).await;
    for t in anns["tickets"].as_array().unwrap() {
        let path = format!("/tickets/{}", t["id"].as_str().unwrap());
        for creds in [&bea, &bea_primary] {
            let (status, _) = stack.call(PRIMARY, creds, "GET", &path, None).await;
            assert_eq!(status, 404);
        }
        let address = stack
            .sb
            .sandbox
            .state
            .topology
            .region(SECONDARY)
            .unwrap()
            .url();
        let host = format!("{SECONDARY}.api.wildrydes.test");
        let resp = signed_call(
            &format!("{address}{path}"),
            "GET",
            Some(&host),
            SECONDARY,
            &bea,
            None,
        )
        .await;
        assert_eq!(resp.status(), 404);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_and_tickets_survive_a_frozen_primary() {
    survives("freeze", "thaw").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_and_tickets_survive_a_killed_primary() {
    survives("kill", "revive").await;
}

/// Tickets an earlier version filed under the caller's identity id move
/// under the owner key on that user's next call, and nothing is left or
/// doubled when the move runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_kept_under_an_identity_id_move_to_the_login() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let stack = up();
    let (cy, id) = stack.login(PRIMARY, "10000000303").await;
    let table = stack.sb.dynamodb(PRIMARY);
    for (n, ulid) in ["01HZZZZZZZZZZZZZZZZZZZZZZ1", "01HZZZZZZZZZZZZZZZZZZZZZZ2"]
        .iter()
        .enumerate()
    {
        let item = json!({"owner": id, "id": ulid, "description": format!("filed by an older version {n}"),
            "priority": "low", "status": "open", "createdAt": "2026-01-01T00:00:00.000Z", "region": PRIMARY});
        let mut put = table.put_item().table_name("wildrydes-tickets");
        for (k, v) in item.as_object().unwrap() {
            put = put.item(
                k,
                aws_sdk_dynamodb::types::AttributeValue::S(v.as_str().unwrap().to_owned()),
            );
        }
        put.send().await.unwrap();
    }
    let listed = list(&stack, PRIMARY, &cy).await;
    assert_eq!(
        listed,
        ["filed by an older version 0", "filed by an older version 1"]
    );
    let (_, doc) = stack.call(PRIMARY, &cy, "GET", "/tickets", None).await;
    for t in doc["tickets"].as_array().unwrap() {
        assert_eq!(
            t["owner"],
            format!("graph.facebook.com:{APP_ID}:10000000303")
        );
    }
    let left = table
        .query()
        .table_name("wildrydes-tickets")
        .key_condition_expression("#o = :o")
        .expression_attribute_names("#o", "owner")
        .expression_attribute_values(":o", aws_sdk_dynamodb::types::AttributeValue::S(id.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(left.count(), 0, "nothing left under the identity id");
    // Through the secondary's pool, after it replicated: the same two.
    eventually("the moved tickets in the secondary", WAIT, || async {
        let (cy2, _) = stack.login(SECONDARY, "10000000303").await;
        (stack.tickets_in(SECONDARY, &cy2).await.len() == 2).then_some(())
    })
    .await;
}
