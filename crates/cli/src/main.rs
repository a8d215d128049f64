//! `teamsapps`: a stateful, wire-compatible Microsoft Graph Teams app catalog and
//! app-installation server.

mod admin;
mod cert;
mod keys;
mod package;
mod serve;
mod tls;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "teamsapps",
    version,
    about = "A stateful emulator of the Microsoft Graph Teams app catalog and app-installation API, with its own OAuth token endpoint."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Graph API (/v1.0, /beta) and the identity endpoints.
    Serve(serve::ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(serve::StoreArgs),
    /// The token signing keys: list them, or rotate (add a new one).
    Keys(keys::KeysArgs),
    /// Build an app package (zip) from a manifest.json, generating missing icons.
    Package(package::PackageArgs),
    /// Write a self-signed certificate (cert.pem, key.pem) for serving HTTPS on localhost.
    Cert(cert::CertArgs),
    /// Print the permission matrix as Markdown (the source of docs/permissions.md).
    Permissions,
    /// Test controls of a running server: reset, snapshot, restore, settings, requests.
    Admin(admin::AdminArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("TEAMSAPPS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr: stdout carries only the `listening on` line scripts wait for.
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::serve(args).await,
            Command::Migrate(args) => serve::migrate(args).await,
            Command::Keys(args) => keys::run(args).await,
            Command::Package(args) => package::run(args),
            Command::Cert(args) => cert::run(args),
            Command::Admin(args) => admin::run(args).await,
            Command::Permissions => {
                print!("{}", teamsapps_core::permissions::markdown());
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
