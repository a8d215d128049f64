//! `teamsapps fixture generate`: a large tenant fixture for load and scale tests, the same
//! bytes for the same flags and seed, checked against the fixture loader before it is written.
//!
//! The shape aims at a real tenant: a few popular apps installed for many users and a long
//! tail installed for few (app k for about 1/(2(k+1)) of the users), teams with a handful of
//! owners and tens of members, mostly group chats, some one-on-one and meeting chats, a share
//! of teams and chats with apps, apps with two versions (some installations one behind) and
//! apps that require resource-specific consent.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Value};
use teamsapps_core::fixture::stable_guid;

#[derive(Args, Debug)]
pub struct FixtureArgs {
    #[command(subcommand)]
    pub command: FixtureCommand,
}

#[derive(Subcommand, Debug)]
pub enum FixtureCommand {
    /// Write a large tenant fixture (deterministic for a given --seed) for `serve --seed`.
    Generate(GenerateArgs),
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct GenerateArgs {
    /// Users in the tenant (the first is a Teams administrator who can publish).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub users: u32,
    /// Teams, each with 1-3 owners and up to 40 members.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub teams: u32,
    /// Chats: mostly group chats, some one-on-one and meeting chats.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub chats: u32,
    /// Apps in the tenant's catalog (organization apps).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub apps: u32,
    /// Seed of the generator: the same seed and counts give the same file, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// yaml or json; by default json when --out ends in .json, yaml otherwise.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The file to write; `-` writes to stdout.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: FixtureArgs) -> anyhow::Result<()> {
    match args.command {
        FixtureCommand::Generate(args) => generate_to_file(&args),
    }
}

/// The secret and passwords every generated tenant uses (printed with the file's summary).
pub const ROLLOUT_SECRET: &str = "rollout-secret";
pub const READER_SECRET: &str = "report-secret";
pub const USER_ROLLOUT_SECRET: &str = "user-rollout-secret";
pub const ADMIN_PASSWORD: &str = "admin-password";
pub const USER_PASSWORD: &str = "user-password";

/// splitmix64: tiny, and its sequence is fixed forever (a library RNG may change across
/// versions, and the file must not).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in lo..=hi.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability p.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// `k` distinct indexes below `n` (k <= n), in ascending order.
    fn sample(&mut self, n: u64, k: u64) -> Vec<u64> {
        let mut picked = BTreeSet::new();
        while (picked.len() as u64) < k.min(n) {
            picked.insert(self.next() % n);
        }
        picked.into_iter().collect()
    }
}

/// What was generated, for the summary line.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub user_installations: usize,
    pub team_installations: usize,
    pub chat_installations: usize,
}

/// The fixture as a JSON value, and its installation counts.
pub fn generate(args: &GenerateArgs) -> (Value, Counts) {
    let mut rng = Rng(args.seed ^ 0x7465_616D_7361_7070);
    let seed = args.seed.to_string();
    let tid = stable_guid(&["teamsapps fixture generate", &seed]);
    let user_id = |i: u64| stable_guid(&[&tid, "user", &i.to_string()]);
    let users: Vec<Value> = (0..u64::from(args.users))
        .map(|i| {
            if i == 0 {
                json!({"id": user_id(0), "userPrincipalName": "admin@generated.example",
                       "displayName": "Generated Admin", "password": ADMIN_PASSWORD,
                       "roles": ["TeamsServiceAdministrator"]})
            } else {
                json!({"id": user_id(i), "userPrincipalName": format!("user{i:05}@generated.example"),
                       "displayName": format!("User {i:05}"), "password": USER_PASSWORD})
            }
        })
        .collect();
    let n_users = u64::from(args.users);
    let teams: Vec<Value> = (0..u64::from(args.teams))
        .map(|i| {
            let size = rng.between(2, 40.min(n_users));
            let people = rng.sample(n_users, size);
            let owners = rng.between(1, 3.min(size - 1)) as usize;
            json!({
                "id": stable_guid(&[&tid, "team", &i.to_string()]),
                "displayName": format!("Team {i:04}"),
                "owners": people[..owners].iter().map(|&u| user_id(u)).collect::<Vec<_>>(),
                "members": people[owners..].iter().map(|&u| user_id(u)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let chats: Vec<Value> = (0..u64::from(args.chats))
        .map(|i| {
            let hex = stable_guid(&[&tid, "chat", &i.to_string()]).replace('-', "");
            let roll = rng.between(0, 9);
            let (kind, size) = match roll {
                0..=5 => ("group", rng.between(3.min(n_users), 8.min(n_users))),
                6..=8 => ("oneOnOne", 2),
                _ => ("meeting", rng.between(2, 10.min(n_users))),
            };
            let members: Vec<String> =
                rng.sample(n_users, size).into_iter().map(user_id).collect();
            match kind {
                "meeting" => json!({
                    "id": format!("19:meeting_{hex}@thread.v2"),
                    "topic": format!("Meeting {i:05}"),
                    "members": members,
                    "onlineMeeting": {"joinWebUrl": format!("https://teams.example/l/meetup-join/{hex}")},
                }),
                "oneOnOne" => json!({
                    "id": format!("19:{hex}@unq.gbl.spaces"),
                    "chatType": "oneOnOne",
                    "members": members,
                }),
                _ => json!({
                    "id": format!("19:{hex}@thread.v2"),
                    "chatType": "group",
                    "topic": format!("Chat {i:05}"),
                    "members": members,
                }),
            }
        })
        .collect();
    // Every third app has a second version; every fourth requires resource-specific consent.
    let app_id = |k: u64| stable_guid(&[&tid, "app", &k.to_string()]);
    let two_versions = |k: u64| k % 3 == 1;
    let mut catalog = Vec::new();
    for k in 0..u64::from(args.apps) {
        let versions: &[&str] = if two_versions(k) { &["1.0.0", "1.1.0"] } else { &["1.0.0"] };
        for version in versions {
            let mut manifest = json!({
                "manifestVersion": "1.17",
                "id": app_id(k),
                "version": version,
                "name": {"short": format!("App {k:03}")},
                "description": {"short": format!("Generated app {k}"),
                                "full": format!("Generated app {k} of seed {seed}.")},
                "staticTabs": [{"entityId": "home", "scopes": ["personal", "team", "groupChat"]}],
            });
            if k % 4 == 3 {
                manifest["webApplicationInfo"] = json!({
                    "id": stable_guid(&[&tid, "aad", &k.to_string()]),
                    "resource": format!("api://generated.example/app{k}"),
                });
                manifest["authorization"] = json!({"permissions": {"resourceSpecific": [
                    {"name": "ChannelMessage.Read.Group", "type": "Application"},
                    {"name": "ChatMessage.Read.Chat", "type": "Application"},
                    {"name": "TeamsActivity.Send.User", "type": "Delegated"},
                ]}});
            }
            catalog.push(json!({"distributionMethod": "organization", "manifest": manifest}));
        }
    }
    let mut counts = Counts::default();
    let mut installations = Vec::new();
    let mut install = |scope: &str, id: String, k: u64, rng: &mut Rng| {
        let mut entry = serde_json::Map::new();
        entry.insert(scope.to_string(), json!(id));
        entry.insert("app".into(), json!(app_id(k)));
        let mut entry = Value::Object(entry);
        // A share of the installations of two-version apps is one version behind.
        if two_versions(k) && rng.chance(0.3) {
            entry["version"] = json!("1.0.0");
        }
        installations.push(entry);
    };
    for u in 0..n_users {
        for k in 0..u64::from(args.apps) {
            if rng.chance(0.5 / (k + 1) as f64) {
                install("user", user_id(u), k, &mut rng);
                counts.user_installations += 1;
            }
        }
    }
    for team in &teams {
        let n = rng.between(1, 3.min(u64::from(args.apps)));
        for k in rng.sample(u64::from(args.apps), n) {
            install("team", team["id"].as_str().unwrap_or_default().to_string(), k, &mut rng);
            counts.team_installations += 1;
        }
    }
    for chat in &chats {
        if rng.chance(0.25) {
            let k = rng.between(0, u64::from(args.apps) - 1);
            install("chat", chat["id"].as_str().unwrap_or_default().to_string(), k, &mut rng);
            counts.chat_installations += 1;
        }
    }
    let fixture = json!({"tenants": [{
        "id": tid,
        "displayName": format!("Generated tenant (seed {seed})"),
        "users": users,
        "chats": chats,
        "teams": teams,
        "applications": [
            {"appId": stable_guid(&[&tid, "registration", "rollout"]),
             "displayName": "Rollout bot", "clientSecret": ROLLOUT_SECRET,
             "applicationPermissions": ["AppCatalog.Read.All",
                "TeamsAppInstallation.ReadWriteAndConsentForUser.All",
                "TeamsAppInstallation.ReadWriteAndConsentForChat.All",
                "TeamsAppInstallation.ReadWriteAndConsentForTeam.All",
                "User.Read.All", "Team.ReadBasic.All", "Chat.ReadBasic.All"],
             "delegatedPermissions": ["AppCatalog.ReadWrite.All",
                "TeamsAppInstallation.ReadWriteForUser",
                "TeamsAppInstallation.ReadWriteAndConsentForChat",
                "TeamsAppInstallation.ReadWriteAndConsentForTeam"]},
            {"appId": stable_guid(&[&tid, "registration", "reader"]),
             "displayName": "Inventory report", "clientSecret": READER_SECRET,
             "applicationPermissions": ["AppCatalog.Read.All",
                "TeamsAppInstallation.ReadForUser.All", "TeamsAppInstallation.ReadForChat.All",
                "TeamsAppInstallation.ReadForTeam.All"]},
            // Can upgrade personal installations without consenting to RSC and only read the
            // others: what a rollout plan reports as blocked.
            {"appId": stable_guid(&[&tid, "registration", "user-rollout"]),
             "displayName": "Personal-scope rollout", "clientSecret": USER_ROLLOUT_SECRET,
             "applicationPermissions": ["AppCatalog.Read.All",
                "TeamsAppInstallation.ReadWriteForUser.All", "TeamsAppInstallation.ReadForChat.All",
                "TeamsAppInstallation.ReadForTeam.All",
                "User.Read.All", "Team.ReadBasic.All", "Chat.ReadBasic.All"]},
        ],
        "catalog": catalog,
        "installations": installations,
    }]});
    (fixture, counts)
}

/// The fixture in `format`, with a header comment in YAML saying how it was made.
pub fn render(args: &GenerateArgs, fixture: &Value, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string(fixture)? + "\n",
        Format::Yaml => format!(
            "# teamsapps fixture generate --users {} --teams {} --chats {} --apps {} --seed {}\n\
             # Secrets and passwords here are for local testing only.\n{}",
            args.users,
            args.teams,
            args.chats,
            args.apps,
            args.seed,
            serde_yaml::to_string(fixture)?
        ),
    })
}

fn format_for(args: &GenerateArgs) -> Format {
    args.format.unwrap_or_else(|| {
        match args.out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase) {
            Some(e) if e == "json" => Format::Json,
            _ => Format::Yaml,
        }
    })
}

fn generate_to_file(args: &GenerateArgs) -> anyhow::Result<()> {
    let format = format_for(args);
    let (fixture, counts) = generate(args);
    let text = render(args, &fixture, format)?;
    // What is written must load: the same parser and checks `serve --seed` uses.
    let parsed = teamsapps_core::fixture::parse(&text)
        .and_then(|f| teamsapps_core::fixture::to_seed(&f))
        .context("the generated fixture does not load (a bug in the generator)")?;
    if args.out == Path::new("-") {
        std::io::stdout().lock().write_all(text.as_bytes())?;
    } else {
        if args.out.is_dir() {
            bail!("--out {} is a directory: name a file", args.out.display());
        }
        std::fs::write(&args.out, &text)
            .with_context(|| format!("cannot write {}", args.out.display()))?;
    }
    let tenant = &fixture["tenants"][0];
    eprintln!(
        "wrote {} ({} bytes): tenant {}, {} users, {} teams, {} chats, {} catalog apps \
         ({} definitions), {} installations ({} user, {} team, {} chat); \
         admin admin@generated.example / {ADMIN_PASSWORD}, every other user / {USER_PASSWORD}; \
         app registrations {} / {ROLLOUT_SECRET} (finds and upgrades everywhere, publishes as the \
         admin), {} / {READER_SECRET} (reads) and {} / {USER_ROLLOUT_SECRET} (personal scope only, no consent)",
        if args.out == Path::new("-") { "stdout".into() } else { args.out.display().to_string() },
        text.len(),
        tenant["id"].as_str().unwrap_or_default(),
        parsed.users.len(),
        parsed.teams.len(),
        parsed.chats.len(),
        parsed.apps.len(),
        parsed.apps.iter().map(|a| a.definitions.len()).sum::<usize>(),
        parsed.installations.len(),
        counts.user_installations,
        counts.team_installations,
        counts.chat_installations,
        tenant["applications"][0]["appId"].as_str().unwrap_or_default(),
        tenant["applications"][1]["appId"].as_str().unwrap_or_default(),
        tenant["applications"][2]["appId"].as_str().unwrap_or_default(),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(seed: u64) -> GenerateArgs {
        GenerateArgs {
            users: 300,
            teams: 20,
            chats: 50,
            apps: 8,
            seed,
            format: None,
            out: PathBuf::from("x.yaml"),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_another_seed_other_ones() {
        let a = render(&args(7), &generate(&args(7)).0, Format::Yaml).unwrap();
        let b = render(&args(7), &generate(&args(7)).0, Format::Yaml).unwrap();
        let c = render(&args(8), &generate(&args(8)).0, Format::Yaml).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn both_formats_load_with_the_counts_asked_for() {
        let (fixture, counts) = generate(&args(3));
        for format in [Format::Yaml, Format::Json] {
            let text = render(&args(3), &fixture, format).unwrap();
            let seed =
                teamsapps_core::fixture::to_seed(&teamsapps_core::fixture::parse(&text).unwrap())
                    .unwrap();
            assert_eq!(seed.users.len(), 300);
            assert_eq!(seed.teams.len(), 20);
            assert_eq!(seed.chats.len(), 50);
            assert_eq!(seed.apps.len(), 8);
            let total =
                counts.user_installations + counts.team_installations + counts.chat_installations;
            assert_eq!(seed.installations.len(), total);
            // App 0 goes to about half the users, the tail to far fewer.
            let first = seed.installations.iter().filter(|i| i.app_id == seed.apps[0].app.id);
            let n =
                first.filter(|i| i.scope.kind == teamsapps_core::model::ScopeKind::User).count();
            assert!((100..=200).contains(&n), "{n} of 300 users have the most popular app");
            assert!(seed.installations.iter().any(|i| i.consented.is_some()), "RSC installs");
        }
    }
}
