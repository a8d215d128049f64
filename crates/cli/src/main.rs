//! `teamsapps`: a stateful, wire-compatible Microsoft Graph Teams app catalog and
//! app-installation server.

mod admin;
mod cert;
mod data_dir;
mod generate;
mod keys;
mod lock;
mod logging;
mod package;
mod progress;
mod rollout;
mod rollout_progress;
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
    /// Log lines on stderr: `text`, or `json` (one JSON object per line, for log collectors).
    #[arg(long, env = "TEAMSAPPS_LOG_FORMAT", value_enum, default_value = "text", global = true)]
    log_format: logging::LogFormat,
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
    /// Test controls of a running server: reset, snapshot, restore, settings, requests,
    /// wait-ready.
    Admin(admin::AdminArgs),
    /// Tenant fixtures: generate a large one.
    Fixture(generate::FixtureArgs),
    /// Move every installation of an app to a new version through Graph (real or teamsapps):
    /// plan, run in waves, resume, status, report.
    Rollout(rollout::RolloutArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let request_log = match &cli.command {
        Command::Serve(args) => args.request_log == logging::OnOff::On,
        _ => true,
    };
    let log_format = cli.log_format;
    // A rollout's log lines make way for its progress bar.
    let logs = match &cli.command {
        Command::Rollout(_) => rollout_progress::init_logging(log_format),
        _ => logging::init(log_format, request_log),
    };
    if let Err(e) = logs {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Command::Rollout(args) = cli.command {
        return std::process::ExitCode::from(runtime.block_on(rollout::run(args)));
    }
    let result = runtime.block_on(async {
        match cli.command {
            Command::Rollout(_) => unreachable!("handled above"),
            Command::Serve(args) => serve::serve(args, log_format).await,
            Command::Migrate(args) => serve::migrate(args).await,
            Command::Keys(args) => keys::run(args).await,
            Command::Package(args) => package::run(args),
            Command::Cert(args) => cert::run(args),
            Command::Admin(args) => admin::run(args).await,
            Command::Fixture(args) => generate::run(args),
            Command::Permissions => {
                print!("{}", teamsapps_core::permissions::markdown());
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            match log_format {
                logging::LogFormat::Text => eprintln!("error: {e:#}"),
                // Log collectors read stderr as JSON lines: the last one too.
                logging::LogFormat::Json => tracing::error!(error = %format!("{e:#}"), "exiting"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}
