//! The DynamoDB global table: the primary region's table (owner + id keys,
//! on-demand, a NEW_AND_OLD_IMAGES stream) and its replica in the
//! secondary region.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateReplicationGroupMemberAction,
    DeleteReplicationGroupMemberAction, KeySchemaElement, KeyType, ReplicaStatus,
    ReplicationGroupUpdate, ScalarAttributeType, StreamSpecification, StreamViewType,
    TableDescription, TableStatus, Tag,
};
use serde::Serialize;

use super::{POLL, SLOW, STACK_TAG, gone, has_stack_tag, kept, not_tagged, table_name};
use crate::deploy::{Ctx, Done, aws_error, wait_for};

/// The table as `region` describes it, whoever owns it.
async fn describe(ctx: &Ctx, region: &str) -> anyhow::Result<Option<TableDescription>> {
    let ddb = &ctx.clients.region(region).dynamodb;
    match ddb
        .describe_table()
        .table_name(table_name(ctx))
        .send()
        .await
    {
        Ok(out) => Ok(out.table),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(aws_error("DescribeTable", e)),
    }
}

/// Whether the table `arn` carries the stack's tag.
async fn is_ours(ctx: &Ctx, arn: &str) -> anyhow::Result<bool> {
    let ddb = &ctx.clients.region(&ctx.config.primary_region).dynamodb;
    let tags = ddb
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("ListTagsOfResource", e))?;
    Ok(has_stack_tag(
        tags.tags().iter().map(|t| (t.key(), Some(t.value()))),
        ctx.stack(),
    ))
}

/// The table in the primary region: `None` when there is none, an error
/// when one of its name is not the stack's.
pub async fn find(ctx: &Ctx) -> anyhow::Result<Option<TableDescription>> {
    let Some(t) = describe(ctx, &ctx.config.primary_region).await? else {
        return Ok(None);
    };
    if !is_ours(ctx, t.table_arn().unwrap_or_default()).await? {
        return Err(not_tagged("DynamoDB table", &table_name(ctx), ctx));
    }
    Ok(Some(t))
}

fn stream() -> anyhow::Result<StreamSpecification> {
    Ok(StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()?)
}

/// Ensures the primary table: created with its keys and stream, or its
/// stream switched on.
pub async fn ensure(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let region = ctx.config.primary_region.clone();
    let ddb = &ctx.clients.region(&region).dynamodb;
    let name = table_name(&ctx);
    let mut w = ctx.writer();
    let Some(t) = find(&ctx).await? else {
        w.create(|| async {
            let attr = |n: &str| {
                AttributeDefinition::builder()
                    .attribute_name(n)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
            };
            let key = |n: &str, t: KeyType| {
                KeySchemaElement::builder()
                    .attribute_name(n)
                    .key_type(t)
                    .build()
            };
            ddb.create_table()
                .table_name(&name)
                .attribute_definitions(attr("owner")?)
                .attribute_definitions(attr("id")?)
                .key_schema(key("owner", KeyType::Hash)?)
                .key_schema(key("id", KeyType::Range)?)
                .billing_mode(BillingMode::PayPerRequest)
                .stream_specification(stream()?)
                .tags(Tag::builder().key(STACK_TAG).value(ctx.stack()).build()?)
                .send()
                .await
                .map_err(|e| aws_error("CreateTable", e))?;
            wait_active(&ctx).await
        })
        .await?;
        return Ok(w.finish(&name));
    };
    let keys: Vec<(String, String)> = t
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    if keys
        != [
            ("owner".into(), "HASH".into()),
            ("id".into(), "RANGE".into()),
        ]
    {
        anyhow::bail!(
            "table {name} has the key schema {keys:?}, not owner (HASH) + id (RANGE); a key schema cannot change: delete the table (`wildrydes down`) and run up again"
        );
    }
    let stream_ok = t.stream_specification().is_some_and(|s| {
        s.stream_enabled() && s.stream_view_type() == Some(&StreamViewType::NewAndOldImages)
    });
    if !stream_ok {
        w.change("stream NEW_AND_OLD_IMAGES", || async {
            ddb.update_table()
                .table_name(&name)
                .stream_specification(stream()?)
                .send()
                .await
                .map_err(|e| aws_error("UpdateTable", e))?;
            wait_active(&ctx).await
        })
        .await?;
    }
    Ok(w.finish(&name))
}

/// Waits until the primary table and every replica are ACTIVE.
async fn wait_active(ctx: &Ctx) -> anyhow::Result<()> {
    let name = table_name(ctx);
    wait_for(
        &format!("table {name} to be ACTIVE"),
        SLOW,
        POLL,
        || async {
            Ok(describe(ctx, &ctx.config.primary_region)
                .await?
                .filter(|t| {
                    t.table_status() == Some(&TableStatus::Active)
                        && t.replicas()
                            .iter()
                            .all(|r| r.replica_status() == Some(&ReplicaStatus::Active))
                })
                .map(|_| ()))
        },
    )
    .await
}

fn has_replica(t: &TableDescription, region: &str) -> bool {
    t.replicas().iter().any(|r| r.region_name() == Some(region))
}

/// Ensures the replica in the secondary region (the table step made the
/// table, so in a dry run a missing table means a replica to come).
pub async fn ensure_replica(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let primary = ctx.config.primary_region.clone();
    let secondary = ctx.config.secondary_region.clone();
    let ddb = &ctx.clients.region(&primary).dynamodb;
    let name = table_name(&ctx);
    let id = format!("{name} in {secondary}");
    let mut w = ctx.writer();
    let t = describe(&ctx, &primary).await?;
    if t.as_ref().is_some_and(|t| has_replica(t, &secondary)) {
        w.after_writes(|| wait_active(&ctx)).await?;
        return Ok(w.finish(id));
    }
    w.create(|| async {
        ddb.update_table()
            .table_name(&name)
            .replica_updates(
                ReplicationGroupUpdate::builder()
                    .create(
                        CreateReplicationGroupMemberAction::builder()
                            .region_name(&secondary)
                            .build()?,
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_error("UpdateTable (add replica)", e))?;
        wait_active(&ctx).await
    })
    .await?;
    Ok(w.finish(id))
}

/// Removes the secondary region's replica and waits until it is gone (the
/// table cannot be deleted before).
pub async fn remove_replica(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let primary = ctx.config.primary_region.clone();
    let secondary = ctx.config.secondary_region.clone();
    let id = format!("{} in {secondary}", table_name(&ctx));
    let Some(t) = describe(&ctx, &primary).await? else {
        return gone(id);
    };
    if !has_replica(&t, &secondary) {
        return gone(id);
    }
    if !is_ours(&ctx, t.table_arn().unwrap_or_default()).await? {
        return kept(id);
    }
    ctx.delete(id.clone(), || async {
        ctx.clients
            .region(&primary)
            .dynamodb
            .update_table()
            .table_name(table_name(&ctx))
            .replica_updates(
                ReplicationGroupUpdate::builder()
                    .delete(
                        DeleteReplicationGroupMemberAction::builder()
                            .region_name(&secondary)
                            .build()?,
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_error("UpdateTable (remove replica)", e))?;
        wait_for(
            &format!("the replica in {secondary} to be removed"),
            SLOW,
            POLL,
            || async {
                let t = describe(&ctx, &primary).await?;
                Ok(t.filter(|t| {
                    !has_replica(t, &secondary) && t.table_status() == Some(&TableStatus::Active)
                })
                .map(|_| ()))
            },
        )
        .await?;
        Ok(Done::new(crate::deploy::Action::Deleted, id))
    })
    .await
}

/// Deletes the primary table and waits until it is gone.
pub async fn remove(ctx: Arc<Ctx>) -> anyhow::Result<Done> {
    let primary = ctx.config.primary_region.clone();
    let name = table_name(&ctx);
    let Some(t) = describe(&ctx, &primary).await? else {
        return gone(name);
    };
    if !is_ours(&ctx, t.table_arn().unwrap_or_default()).await? {
        return kept(name);
    }
    ctx.delete(name.clone(), || async {
        let ddb = &ctx.clients.region(&primary).dynamodb;
        ddb.delete_table()
            .table_name(&name)
            .send()
            .await
            .map_err(|e| aws_error("DeleteTable", e))?;
        wait_for(
            &format!("table {name} to be deleted"),
            SLOW,
            POLL,
            || async { Ok(describe(&ctx, &primary).await?.is_none().then_some(())) },
        )
        .await?;
        Ok(Done::new(crate::deploy::Action::Deleted, name))
    })
    .await
}

/// What `status` shows of one region's table.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TableState {
    pub status: String,
    pub item_count: Option<i64>,
    pub stream: Option<String>,
    /// The other region's replica, as this region's table reports it.
    pub replicas: BTreeMap<String, String>,
}

/// The table as `region` sees it (each region describes its own copy).
pub async fn observe(ctx: &Ctx, region: &str) -> anyhow::Result<Option<TableState>> {
    Ok(describe(ctx, region).await?.map(|t| TableState {
        status: t
            .table_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        item_count: t.item_count(),
        stream: t
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str().to_owned()),
        replicas: t
            .replicas()
            .iter()
            .filter_map(|r| {
                Some((
                    r.region_name()?.to_owned(),
                    r.replica_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                ))
            })
            .collect(),
    }))
}
