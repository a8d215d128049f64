//! `teamsapps keys list` and `teamsapps keys rotate`: the token signing keys in the store.

use anyhow::Context;
use clap::{Args, Subcommand};
use teamsapps_api::identity::{generate_signing_key, key_states, KeyState};

use crate::serve::{open_store, StoreArgs};

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List the signing keys, newest first: the one that signs, the ones still accepted until
    /// their tokens expire, the retired ones.
    List(StoreArgs),
    /// Add a new signing key. Every node signs with it within its key refresh interval; the
    /// previous key stays published and accepted until its tokens have expired.
    Rotate(StoreArgs),
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::List(store) => list(store).await,
        KeysCommand::Rotate(store) => rotate(store).await,
    }
}

async fn list(args: StoreArgs) -> anyhow::Result<()> {
    let opened = open_store(&args).await?;
    let keys = opened.store.signing_keys().await.context("reading the signing keys")?;
    if keys.is_empty() {
        println!("no signing key yet (the first `serve` creates one)");
        return Ok(());
    }
    for (key, state) in keys.iter().zip(key_states(&keys, chrono::Utc::now())) {
        let state = match state {
            KeyState::Signing => "signing".to_string(),
            KeyState::Retiring(until) => format!("accepted until {}", until.to_rfc3339()),
            KeyState::Retired => "retired".to_string(),
        };
        println!("{}  created {}  {state}", key.kid, key.created_at.to_rfc3339());
    }
    Ok(())
}

async fn rotate(args: StoreArgs) -> anyhow::Result<()> {
    let opened = open_store(&args).await?;
    let mut key = tokio::task::spawn_blocking(generate_signing_key)
        .await
        .context("key generation task")??;
    key.created_at = chrono::Utc::now();
    opened.store.add_signing_key(&key).await.context("storing the new signing key")?;
    println!("added signing key {} ({})", key.kid, opened.what);
    Ok(())
}
