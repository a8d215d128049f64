//! Test support: fresh databases with unique names on a PostgreSQL server, dropped afterwards.
//!
//! Used by this crate's conformance tests and by the HTTP integration harness. Every function
//! here blocks, and does its work on a thread of its own with its own runtime, so it can be
//! called from synchronous code, from inside a tokio runtime, and from a `Drop` that runs while
//! a test panics.
//!
//! The server is `TEAMSAPPS_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres` (the development and CI machines' server).

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, Context};
use tokio_postgres::NoTls;

/// The environment variable that makes an unreachable server a test failure, not a skip.
pub const REQUIRE_ENV: &str = "TEAMSAPPS_REQUIRE_POSTGRES";
/// The environment variable naming the test server (a URL of any database on it).
pub const URL_ENV: &str = "TEAMSAPPS_TEST_POSTGRES_URL";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The maintenance URL of the test server.
pub fn admin_url() -> String {
    std::env::var(URL_ENV).ok().filter(|u| !u.trim().is_empty()).unwrap_or(DEFAULT_URL.into())
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub fn database_url(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
    format!("{scheme}://{authority}/{name}{query}")
}

/// Whether the test server answers (checked once per process).
pub fn reachable() -> Result<(), String> {
    static ANSWER: OnceLock<Result<(), String>> = OnceLock::new();
    ANSWER
        .get_or_init(|| {
            let url = admin_url();
            blocking(move || async move {
                let mut config: tokio_postgres::Config = url.parse()?;
                config.connect_timeout(Duration::from_secs(3));
                let (client, conn) = config.connect(NoTls).await?;
                tokio::spawn(conn);
                client.simple_query("SELECT 1").await?;
                Ok(())
            })
            .map_err(|e| format!("{e:#}"))
        })
        .clone()
}

/// For a test that needs PostgreSQL: the server URL when it answers. When it does not, the
/// test fails if `TEAMSAPPS_REQUIRE_POSTGRES=1`; otherwise a loud `SKIPPED` line goes to stderr
/// and this returns `None` (the caller returns: the test did not run, and says so).
pub fn server_or_skip(test: &str) -> Option<String> {
    let url = admin_url();
    match reachable() {
        Ok(()) => Some(url),
        Err(e) => {
            let shown = redact_password(&url);
            if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
                panic!("PostgreSQL not reachable at {shown} and {REQUIRE_ENV}=1: {e}");
            }
            // Straight to the process's stderr: the test harness captures eprintln! of tests
            // that pass, and this must be seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: PostgreSQL not reachable at {shown}: {test} did not run ({e}); \
                 set {REQUIRE_ENV}=1 to make this a failure"
            );
            None
        }
    }
}

/// How to create a test database.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Create it with an ICU `en-US` locale (when the server has ICU), whose collation orders
    /// `a` before `B` and whose `lower()` folds non-ASCII letters: the store must not depend on
    /// the database's locale.
    pub hostile_locale: bool,
    /// `default_transaction_isolation = serializable`, as distributed SQL engines run: the
    /// store must retry serialization failures.
    pub serializable: bool,
    /// A comment recorded on the database (the integration harness stores its data directory).
    pub comment: Option<String>,
}

/// Creates the database `name` on the server at `admin_url`.
pub fn create_database(admin_url: &str, name: &str, options: &CreateOptions) -> anyhow::Result<()> {
    check_name(name)?;
    let (url, name, options) = (admin_url.to_owned(), name.to_owned(), options.clone());
    blocking(move || async move {
        let client = connect(&url).await?;
        let mut created = false;
        if options.hostile_locale {
            // PostgreSQL 15+ built with ICU; otherwise fall back to the server's default.
            created = client
                .batch_execute(&format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' \
                     LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
                ))
                .await
                .is_ok();
        }
        if !created {
            client
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .await
                .with_context(|| format!("creating database {name}"))?;
        }
        if options.serializable {
            client
                .batch_execute(&format!(
                    "ALTER DATABASE \"{name}\" SET default_transaction_isolation = 'serializable'"
                ))
                .await?;
        }
        if let Some(comment) = &options.comment {
            let quoted = comment.replace('\'', "''");
            client.batch_execute(&format!("COMMENT ON DATABASE \"{name}\" IS '{quoted}'")).await?;
        }
        Ok(())
    })
}

/// Drops the database `name` (if it exists), closing every connection to it first.
pub fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    check_name(name)?;
    let (url, name) = (admin_url.to_owned(), name.to_owned());
    blocking(move || async move {
        let client = connect(&url).await?;
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .with_context(|| format!("dropping database {name}"))?;
        Ok(())
    })
}

/// Databases whose name starts with `prefix`, with their comments.
pub fn databases_with_prefix(
    admin_url: &str,
    prefix: &str,
) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let (url, prefix) = (admin_url.to_owned(), prefix.to_owned());
    blocking(move || async move {
        let client = connect(&url).await?;
        let rows = client
            .query(
                "SELECT datname::text, shobj_description(oid, 'pg_database') FROM pg_database \
                 WHERE starts_with(datname::text, $1) ORDER BY datname",
                &[&prefix],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<_, String>(0)?, r.try_get::<_, Option<String>>(1)?)))
            .collect()
    })
}

/// Runs a raw SQL batch on the database `name` of the server at `admin_url`.
pub fn execute(admin_url: &str, name: &str, sql: &str) -> anyhow::Result<()> {
    let (url, sql) = (database_url(admin_url, name), sql.to_owned());
    blocking(move || async move {
        connect(&url).await?.batch_execute(&sql).await?;
        Ok(())
    })
}

/// A database created for one test, dropped when this goes out of scope (also when the test
/// panics).
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates `<prefix><uuid>` on the server at `admin_url`.
    pub fn create(
        admin_url: &str,
        prefix: &str,
        options: &CreateOptions,
    ) -> anyhow::Result<TestDatabase> {
        let name = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
        create_database(admin_url, &name, options)?;
        Ok(TestDatabase {
            url: database_url(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs raw SQL on it (tests that corrupt rows or inspect tables).
    pub fn execute(&self, sql: &str) -> anyhow::Result<()> {
        execute(&self.admin_url, &self.name, sql)
    }

    /// Rows of a query on it, every column as text (the simple query protocol).
    pub fn query_text(&self, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        blocking(move || async move {
            let client = connect(&url).await?;
            let messages = client.simple_query(&sql).await?;
            Ok(messages
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => {
                        Some((0..r.len()).map(|i| r.get(i).map(str::to_owned)).collect())
                    }
                    _ => None,
                })
                .collect())
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if std::env::var("TEAMSAPPS_TEST_KEEP_DB").is_ok_and(|v| v == "1") {
            eprintln!("kept test database {}", self.name);
            return;
        }
        if let Err(e) = drop_database(&self.admin_url, &self.name) {
            eprintln!("warning: could not drop test database {}: {e:#}", self.name);
        }
    }
}

fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(anyhow!("not a test database name: {name:?}"));
    }
    Ok(())
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let mut config: tokio_postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(10));
    let (client, conn) = config
        .connect(NoTls)
        .await
        .with_context(|| format!("connecting to {}", redact_password(url)))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// Runs `f` to completion on a new thread with its own runtime and waits for it.
fn blocking<T, F, Fut>(f: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(f())
    })
    .join()
    .map_err(|_| anyhow!("the PostgreSQL helper thread panicked"))?
}

fn redact_password(url: &str) -> String {
    crate::redact(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_replaces_only_the_name() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "t_1"),
            "postgres://postgres@127.0.0.1:5432/t_1"
        );
        assert_eq!(
            database_url("postgresql://u:p@h/x?sslmode=disable", "y"),
            "postgresql://u:p@h/y?sslmode=disable"
        );
        assert_eq!(database_url("postgres://h:1", "z"), "postgres://h:1/z");
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("teamsapps_test_abc123").is_ok());
        assert!(check_name("x\"; DROP").is_err());
        assert!(check_name("").is_err());
    }
}
