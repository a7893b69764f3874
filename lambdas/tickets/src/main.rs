//! The `bootstrap` binary: builds the DynamoDB client once per instance and
//! serves invocations until the runtime stops it.

use lambda_http::{Error, run, service_fn};
use wildrydes_tickets::cursor::CursorCodec;
use wildrydes_tickets::handler::{App, Config, FaultSource, handle};
use wildrydes_tickets::store::DynamoStore;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(false)
        .without_time()
        .init();

    let config = Config::from_lookup(|name| std::env::var(name).ok())?;
    let cursors = match std::env::var("CURSOR_SECRET") {
        Ok(secret) if !secret.is_empty() => CursorCodec::new(secret.as_bytes()),
        _ => {
            tracing::warn!(
                "CURSOR_SECRET is not set: paging cursors use a key derived from the table name"
            );
            CursorCodec::derived(&config.table)
        }
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.table.clone());
    let app = App {
        store,
        cursors,
        config,
        faults: FaultSource::Environment,
        migrations: Default::default(),
    };
    run(service_fn(|req| handle(&app, req))).await
}
