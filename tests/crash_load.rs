//! Nothing acknowledged is lost when processes die under load: a stack
//! `up` deployed, signed `POST /tickets` through each region's own API
//! domain and sequential DynamoDB writes (a counter, and items put then
//! deleted) in both regions, while the primary, the secondary and the
//! global process are SIGKILLed at seeded random moments and revived, 21
//! times; every other round a region also kills itself by its crash point
//! after one of a replication batch's engine writes (6 more). Afterwards,
//! with replication converged: every acknowledged ticket is in the region
//! that acknowledged it and in the other, once; both regions hold exactly
//! the same items; the counter is the newest value written in both (never
//! an older one over a newer); no acknowledged delete is resurrected; each
//! revived region's replicator resumed from its saved position, reading
//! again at most the one batch the kill cut short (counted on the source's
//! stream), and every mid-batch kill left such a batch.
//!
//! The seed is printed; `WILDRYDES_TEST_SEED=<seed>` replays the same kill
//! schedule (the load's interleaving with it still depends on timing).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{PRIMARY, SECONDARY, TestSandbox, eventually, resume_seen, try_signed_call};
use serde_json::{Value, json};
use wildrydes_sandbox::services::dynamodb::replication::Settings;

const TABLE: &str = "wildrydes-tickets";
const KILLS: usize = 21;
const REGIONS: [&str; 2] = [PRIMARY, SECONDARY];

/// xorshift64*: a seeded schedule without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.next() % (high - low))
    }
}

/// A ticket the API acknowledged: (region, owner, id, description).
type Acked = (String, String, String, String);

/// Files tickets through each region's own API domain, alternating, until
/// `stop`; returns those acknowledged with 201.
async fn file_tickets(
    addresses: Vec<(String, String)>,
    creds: aws_credential_types::Credentials,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> Vec<Acked> {
    let mut acked = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let (region, address) = &addresses[(n % 2) as usize];
        let description = format!("load {seed} ticket {n}");
        let body = json!({"description": description, "priority": "low"}).to_string();
        let host = format!("{region}.api.wildrydes.test");
        n += 1;
        match try_signed_call(
            &format!("{address}/tickets"),
            "POST",
            Some(&host),
            region,
            &creds,
            Some(&body),
        )
        .await
        {
            Ok(resp) if resp.status() == 201 => {
                let t: Value = resp.json().await.unwrap();
                acked.push((
                    region.clone(),
                    t["owner"].as_str().unwrap().to_owned(),
                    t["id"].as_str().unwrap().to_owned(),
                    description,
                ));
            }
            // A region down, or its function or table on the way back.
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    acked
}

/// What the sequential DynamoDB writer had acknowledged.
#[derive(Default)]
struct Sequential {
    counter_acked: u64,
    counter_tried: u64,
    deleted: Vec<String>,
}

/// Writes a counter (each value after the last was acknowledged) and puts
/// then deletes doomed items, alternating regions, until `stop`.
async fn write_sequentially(
    clients: Vec<aws_sdk_dynamodb::Client>,
    tried: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Sequential {
    let mut s = Sequential::default();
    let mut turn = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let ddb = &clients[turn % 2];
        turn += 1;
        let n = s.counter_acked + 1;
        s.counter_tried = s.counter_tried.max(n);
        tried.store(s.counter_tried, Ordering::Relaxed);
        let mut item = common::item_key("load-counter", "counter");
        item.insert("n".into(), AttributeValue::N(n.to_string()));
        let put = ddb
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item))
            .send()
            .await;
        if put.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        s.counter_acked = n;
        if n % 4 == 0 {
            let id = format!("doomed-{n}");
            let put = ddb
                .put_item()
                .table_name(TABLE)
                .set_item(Some(common::item_key("load-doomed", &id)))
                .send()
                .await;
            let deleted = put.is_ok()
                && ddb
                    .delete_item()
                    .table_name(TABLE)
                    .set_key(Some(common::item_key("load-doomed", &id)))
                    .send()
                    .await
                    .is_ok();
            if deleted {
                s.deleted.push(id);
            }
        }
    }
    s
}

/// Every item of the table in `region`: (owner, id) → item as JSON text.
async fn scan(ddb: &aws_sdk_dynamodb::Client) -> Option<BTreeMap<(String, String), String>> {
    let mut out = BTreeMap::new();
    let mut start = None;
    loop {
        let page = ddb
            .scan()
            .table_name(TABLE)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .ok()?;
        for item in page.items() {
            let s = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let mut fields: Vec<String> = item.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            fields.sort();
            out.insert((s("owner"), s("id")), fields.join(","));
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Some(out);
        }
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_kills_of_every_process() {
    let seed = common::test_seed();
    eprintln!("crash_load seed {seed} (WILDRYDES_TEST_SEED={seed} replays the kill schedule)");
    let mut rng = Rng(seed);
    let mut sb = TestSandbox::start();
    let doc = common::up_json(&sb);
    let pool = doc["next"]["identityPools"][0]["identityPoolId"]
        .as_str()
        .unwrap()
        .to_owned();
    let (user, _) = common::facebook_login_in(&sb, PRIMARY, &pool, "10000000099").await;
    for region in REGIONS {
        let settings = Settings {
            delay_ms: 0,
            jitter_ms: 0,
        };
        sb.sandbox.set_replication(region, settings).await.unwrap();
    }
    let addresses: Vec<(String, String)> = REGIONS
        .iter()
        .map(|r| {
            let url = sb.sandbox.state.topology.region(r).unwrap().url();
            ((*r).to_owned(), url)
        })
        .collect();
    let clients: Vec<_> = REGIONS.iter().map(|r| sb.dynamodb(r)).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let tried = Arc::new(AtomicU64::new(0));
    let tickets = tokio::spawn(file_tickets(addresses, user.clone(), seed, stop.clone()));
    let sequential = tokio::spawn(write_sequentially(
        clients.clone(),
        tried.clone(),
        stop.clone(),
    ));
    let processes = [PRIMARY, SECONDARY, "global"];
    // What each revived region's subscription reported on resuming.
    let mut resumes = Vec::new();
    let mut mid_batch = 0;
    for k in 0..KILLS {
        let mut placed = false;
        let victim = processes[k % processes.len()];
        tokio::time::sleep(rng.millis(150, 600)).await;
        sb.kill(victim);
        tokio::time::sleep(rng.millis(50, 400)).await;
        if REGIONS.contains(&victim) && (k / processes.len()) % 2 == 1 {
            // Every other round a region dies once more, by its own crash
            // point, after one of a replication batch's engine writes.
            let fault = format!("replication-after-engine-write:{}", 1 + rng.next() % 4);
            sb.revive_until_fault(victim, &fault, Duration::from_secs(20))
                .await;
            mid_batch += 1;
            placed = true;
        }
        sb.revive(victim).await;
        if REGIONS.contains(&victim) {
            let status = eventually(
                &format!("{victim}'s subscription to start"),
                Duration::from_secs(15),
                || async {
                    let (_, subs) = sb.sandbox.replication(victim).await.ok()?;
                    subs.into_iter().find(|s| {
                        s.table == TABLE
                            && s.resumed.as_ref().is_some_and(|r| r.first_read.is_some())
                    })
                },
            )
            .await;
            resumes.push((victim, status, placed));
        }
    }
    // Load a little longer on a whole sandbox, then stop.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let tickets = tickets.await.unwrap();
    let sequential = sequential.await.unwrap();
    eprintln!(
        "{} tickets and {} counter values acknowledged, {} deletes, over {} kills",
        tickets.len(),
        sequential.counter_acked,
        sequential.deleted.len(),
        KILLS + mid_batch
    );
    assert!(
        tickets.len() >= 20,
        "too little load to mean anything: {}",
        tickets.len()
    );

    // Converged: both regions hold the same items.
    let (eu, ap) = eventually("both regions to converge", Duration::from_secs(60), || {
        let clients = clients.clone();
        async move {
            let eu = scan(&clients[0]).await?;
            let ap = scan(&clients[1]).await?;
            (eu == ap).then_some((eu, ap))
        }
    })
    .await;
    assert_eq!(eu, ap);
    let keys: BTreeSet<&(String, String)> = eu.keys().collect();
    for (region, owner, id, description) in &tickets {
        let item = eu.get(&(owner.clone(), id.clone()));
        assert!(
            item.is_some_and(|i| i.contains(description.as_str())),
            "ticket {id} ({description}) acknowledged by {region} is missing (seed {seed})"
        );
    }
    let descriptions: Vec<&String> = eu
        .values()
        .filter(|v| v.contains(&format!("load {seed} ")))
        .collect();
    let unique: BTreeSet<&String> = descriptions.iter().copied().collect();
    assert_eq!(
        unique.len(),
        descriptions.len(),
        "a ticket stored twice (seed {seed})"
    );
    // The counter: the newest value acknowledged, or a newer one that was
    // written but whose answer was cut off; never an older one.
    let counter = eu
        .get(&("load-counter".to_owned(), "counter".to_owned()))
        .expect("the counter");
    let value: u64 = counter
        .split("n=N(\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("the counter's value");
    assert!(
        (sequential.counter_acked..=tried.load(Ordering::Relaxed)).contains(&value),
        "counter {value}, last acknowledged {} (seed {seed})",
        sequential.counter_acked
    );
    // Each revived replicator resumed from its saved position and read
    // again at most the one batch the kill cut short.
    let (mut cut_short, mut read_again) = (0, 0);
    for (region, status, placed) in &resumes {
        let seen = resume_seen(&sb, status).await;
        let again = seen.read_again;
        assert_eq!(
            status.resumed.as_ref().and_then(|r| r.first_read.clone()),
            seen.next_after,
            "{region} did not resume reading {}'s stream right after the position it reports: \
             {status:?} (seed {seed})",
            status.source
        );
        let unfinished = status
            .resumed
            .as_ref()
            .and_then(|r| r.unfinished_batch.as_ref());
        let allowed = unfinished.map_or(0, |b| b.records);
        assert!(
            again <= allowed,
            "{region} read {again} records of {}'s stream again after a restart, more than \
             the {allowed} of the batch the kill cut short: {status:?} (seed {seed})",
            status.source
        );
        assert!(
            unfinished.is_some() || !placed,
            "{region} was killed after a replicated engine write, but resumed with no \
             unfinished batch: {status:?} (seed {seed})"
        );
        cut_short += usize::from(unfinished.is_some());
        read_again += again;
    }
    eprintln!(
        "{} region restarts ({mid_batch} after a kill placed mid-batch): {cut_short} resumed a \
         replication batch cut short, {read_again} records read again",
        resumes.len()
    );

    for id in &sequential.deleted {
        assert!(
            !keys.contains(&("load-doomed".to_owned(), id.clone())),
            "{id} was deleted and came back (seed {seed})"
        );
    }
}
