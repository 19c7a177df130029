//! `granary admin`: organizations, users, memberships and API keys, straight on the database,
//! so operators can script a registry without the web. Keys print alone on stdout.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use granary_core::{validate_org_key, Role};
use granary_db::MetadataStore;
use granary_server::auth::issue_api_key;
use serde_json::json;
use uuid::Uuid;

use crate::output::{iso, table};
use crate::serve::{open_db, StoreArgs};

#[derive(Args)]
pub struct AdminArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCmd),
    /// Users.
    #[command(subcommand)]
    User(UserCmd),
    /// Who belongs to which organization, with which role.
    #[command(subcommand)]
    Member(MemberCmd),
    /// API keys.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Remove blobs no version references and upload sessions nobody finished.
    Gc {
        /// Keep unreferenced blobs younger than this (a publish in progress has this long to land)
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        min_age: chrono::Duration,
        /// Remove upload sessions untouched for this long
        #[arg(long, default_value = "24h", value_parser = parse_duration)]
        upload_age: chrono::Duration,
        /// Report what would go; remove nothing
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Run the viewer's pending jobs (parquet renditions, column statistics) now, then exit.
    /// Servers run them in the background; this does it at once, on this machine.
    ViewerRun {
        /// Also take over jobs other servers hold (after those servers died), without
        /// waiting for their claims to run out
        #[arg(long)]
        reclaim: bool,
        #[arg(long)]
        json: bool,
    },
    /// Queue every failed viewer job again, its attempts reset (once the cause, such as a
    /// store outage, is fixed); servers (or `viewer-run`) then run them.
    ViewerRetry {
        #[arg(long)]
        json: bool,
    },
    /// Fill the registry with generated demo data (for benchmarks and demos).
    SeedDemo {
        #[arg(long, default_value_t = 50)]
        orgs: usize,
        #[arg(long, default_value_t = 1000)]
        names: usize,
        #[arg(long, default_value_t = 100_000)]
        versions: usize,
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        /// Share of dataset names made public, in percent
        #[arg(long, default_value_t = 30)]
        public_percent: u64,
    },
}

#[derive(Subcommand)]
enum OrgCmd {
    /// Create an organization.
    Create {
        /// Key: lowercase letters, digits and hyphens
        key: String,
        /// Display name [default: the key]
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List organizations.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user.
    Create {
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum MemberCmd {
    /// Add a user to an organization, or change their role.
    Add {
        org: String,
        username: String,
        /// owner, contributor or reader
        #[arg(long)]
        role: Role,
    },
    /// Remove a user from an organization.
    Remove { org: String, username: String },
    /// List an organization's members.
    List {
        org: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Create an API key for a user; prints the key alone (it is shown once).
    Create {
        username: String,
        /// A label to recognise the key by
        #[arg(long, default_value = "cli")]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List API keys (never the keys themselves).
    List {
        /// Only this user's keys
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key by its id, or a user's keys by name (`--user bob --name laptop`);
    /// requests with it get 401 from then on.
    Revoke {
        /// The key's id (`granary admin key list`)
        #[arg(required_unless_present = "name", conflicts_with_all = ["user", "name"])]
        id: Option<String>,
        /// With --name: whose key
        #[arg(long, requires = "name")]
        user: Option<String>,
        /// The label the key was created with (`key create --name`); needs --user
        #[arg(long, requires = "user")]
        name: Option<String>,
    },
}

async fn user(db: &dyn MetadataStore, username: &str) -> Result<granary_db::User> {
    db.user_by_name(username)
        .await?
        .ok_or_else(|| anyhow!("no user {username:?}; create it with `granary admin user create {username}`"))
}

async fn org(db: &dyn MetadataStore, key: &str) -> Result<granary_db::Org> {
    db.org_by_key(key)
        .await?
        .ok_or_else(|| anyhow!("no organization {key:?}; create it with `granary admin org create {key}`"))
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("json"));
}

/// `90s`, `30m`, `1h`, `7d`.
fn parse_duration(s: &str) -> Result<chrono::Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: use a number and s, m, h or d, such as 30m"))?;
    match unit {
        "s" => Ok(chrono::Duration::seconds(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(format!(
            "invalid duration {s:?}: use a number and s, m, h or d, such as 30m"
        )),
    }
}

pub async fn run(args: AdminArgs) -> Result<()> {
    if let AdminCommand::Gc {
        min_age,
        upload_age,
        dry_run,
        json,
    } = args.command
    {
        let (db, _) = open_db(&args.store).await?;
        let blobs = crate::serve::open_blobs(&args.store).await?;
        let opts = granary_server::gc::GcOptions {
            min_blob_age: min_age,
            upload_age,
            dry_run,
        };
        let r = granary_server::gc::collect(db.as_ref(), &blobs, &opts).await?;
        if json {
            print_json(&serde_json::to_value(&r)?);
        } else {
            println!(
                "{} {} unreferenced blob(s) ({}), {} stale upload session(s) and {} staging file(s) of interrupted writes; kept {} blob(s)",
                if dry_run { "would remove" } else { "removed" },
                r.blobs_removed,
                crate::output::bytes(r.bytes_removed),
                r.uploads_removed,
                r.staging_removed,
                r.blobs_kept
            );
        }
        return Ok(());
    }
    if let AdminCommand::ViewerRun { reclaim, json } = args.command {
        let (db, _) = open_db(&args.store).await?;
        let blobs = crate::serve::open_blobs(&args.store).await?;
        let state = granary_server::AppState::new(db, blobs, granary_server::ServerConfig::default());
        let s = granary_server::viewer::run_with_summary(&state, reclaim)
            .await
            .map_err(|e| anyhow!("{}", e.detail))?;
        if json {
            print_json(&json!({
                "jobs_done": s.done.len(),
                "jobs": s.done,
                "failed": s.failed,
                "refused": s.refused,
                "held": s.held,
            }));
        } else {
            println!("ran {} viewer job(s)", s.done.len());
            for f in &s.failed {
                let next = if f.will_retry {
                    "it will be tried again"
                } else {
                    "it stays failed; `granary admin viewer-retry` queues it again once the cause is fixed"
                };
                println!("failed: {}: {} ({next})", f.version, f.error);
            }
            for v in &s.refused {
                println!("refused: {v}: another server had taken the job over; its result stands");
            }
            for h in &s.held {
                println!(
                    "held: {} by another server until {}; if that server died, run `granary admin viewer-run --reclaim`",
                    h.version, h.lease_until
                );
            }
        }
        return Ok(());
    }
    if let AdminCommand::ViewerRetry { json } = args.command {
        let (db, _) = open_db(&args.store).await?;
        let blobs = crate::serve::open_blobs(&args.store).await?;
        let state = granary_server::AppState::new(db, blobs, granary_server::ServerConfig::default());
        let queued = granary_server::viewer::retry_failed(&state)
            .await
            .map_err(|e| anyhow!("{}", e.detail))?;
        if json {
            print_json(&json!({"queued": queued}));
        } else if queued.is_empty() {
            println!("no failed viewer jobs");
        } else {
            println!(
                "queued {} failed viewer job(s) again: {}",
                queued.len(),
                queued.join(", ")
            );
        }
        return Ok(());
    }
    if let AdminCommand::SeedDemo {
        orgs,
        names,
        versions,
        events,
        public_percent,
    } = args.command
    {
        let store = crate::serve::open_sql(&args.store).await?;
        let spec = granary_db::sql::seed::SeedSpec {
            orgs,
            names,
            versions,
            events,
            public_percent,
        };
        let t = std::time::Instant::now();
        let (o, v, e) = granary_db::sql::seed::seed(&store, &spec, |step| {
            eprintln!("{:>6.1}s  {step}", t.elapsed().as_secs_f64())
        })
        .await?;
        println!(
            "seeded {o} orgs, {v} versions, {e} download events in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let (db, _) = open_db(&args.store).await?;
    let db = db.as_ref();
    match args.command {
        AdminCommand::Migrate => println!("database schema is up to date"),
        AdminCommand::SeedDemo { .. }
        | AdminCommand::Gc { .. }
        | AdminCommand::ViewerRun { .. }
        | AdminCommand::ViewerRetry { .. } => {
            unreachable!("handled above")
        }
        AdminCommand::Org(OrgCmd::Create { key, name, json }) => {
            validate_org_key(&key)?;
            let o = db.create_org(&key, name.as_deref().unwrap_or(&key)).await?;
            if json {
                print_json(&json!({"id": o.id, "key": o.key, "name": o.name, "created_at": iso(o.created_at)}));
            } else {
                println!("created organization {}", o.key);
            }
        }
        AdminCommand::Org(OrgCmd::List { json }) => {
            let orgs = db.list_orgs().await?;
            if json {
                print_json(&json!(orgs
                    .iter()
                    .map(|o| json!({"id": o.id, "key": o.key, "name": o.name, "created_at": iso(o.created_at)}))
                    .collect::<Vec<_>>()));
            } else {
                table(
                    &["KEY", "NAME", "CREATED"],
                    orgs.iter()
                        .map(|o| vec![o.key.clone(), o.name.clone(), iso(o.created_at)])
                        .collect(),
                );
            }
        }
        AdminCommand::User(UserCmd::Create { username, email, json }) => {
            if username.is_empty()
                || username.len() > 64
                || !username.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                bail!("invalid username {username:?}: use 1-64 letters, digits, '.', '_' or '-'");
            }
            let email = email.unwrap_or_else(|| format!("{username}@localhost"));
            let u = db.create_user(&username, &email).await?;
            if json {
                print_json(
                    &json!({"id": u.id, "username": u.username, "email": u.email, "created_at": iso(u.created_at)}),
                );
            } else {
                println!("created user {}", u.username);
            }
        }
        AdminCommand::User(UserCmd::List { json }) => {
            let users = db.list_users().await?;
            if json {
                print_json(&json!(users
                    .iter()
                    .map(|u| json!({"id": u.id, "username": u.username, "email": u.email, "created_at": iso(u.created_at)}))
                    .collect::<Vec<_>>()));
            } else {
                table(
                    &["USERNAME", "EMAIL", "CREATED"],
                    users
                        .iter()
                        .map(|u| vec![u.username.clone(), u.email.clone(), iso(u.created_at)])
                        .collect(),
                );
            }
        }
        AdminCommand::Member(MemberCmd::Add { org: o, username, role }) => {
            let (o, u) = (org(db, &o).await?, user(db, &username).await?);
            db.set_membership(o.id, u.id, role).await?;
            println!("{} is now {role} of {}", u.username, o.key);
        }
        AdminCommand::Member(MemberCmd::Remove { org: o, username }) => {
            let (o, u) = (org(db, &o).await?, user(db, &username).await?);
            if !db.remove_membership(o.id, u.id).await? {
                bail!("{} is not a member of {}", u.username, o.key);
            }
            println!("removed {} from {}", u.username, o.key);
        }
        AdminCommand::Member(MemberCmd::List { org: o, json }) => {
            let o = org(db, &o).await?;
            let members = db.list_members(o.id).await?;
            if json {
                print_json(&json!(members
                    .iter()
                    .map(|(u, r)| json!({"user_id": u.id, "username": u.username, "role": r.as_str()}))
                    .collect::<Vec<_>>()));
            } else {
                table(
                    &["USERNAME", "ROLE"],
                    members
                        .iter()
                        .map(|(u, r)| vec![u.username.clone(), r.to_string()])
                        .collect(),
                );
            }
        }
        AdminCommand::Key(KeyCmd::Create { username, name, json }) => {
            let u = user(db, &username).await?;
            let (k, token) = issue_api_key(db, u.id, &name).await?;
            if json {
                print_json(
                    &json!({"id": k.id, "key": token, "username": u.username, "name": k.name, "created_at": iso(k.created_at)}),
                );
            } else {
                println!("{token}");
            }
        }
        AdminCommand::Key(KeyCmd::List { user: who, json }) => {
            let user_id = match who {
                Some(name) => Some(user(db, &name).await?.id),
                None => None,
            };
            let keys = db.list_api_keys(user_id).await?;
            if json {
                print_json(&json!(keys
                    .iter()
                    .map(
                        |k| json!({"id": k.id, "username": k.username, "name": k.name, "prefix": k.prefix,
                                    "created_at": iso(k.created_at), "revoked_at": k.revoked_at.map(iso)})
                    )
                    .collect::<Vec<_>>()));
            } else {
                table(
                    &["ID", "USER", "NAME", "PREFIX", "CREATED", "REVOKED"],
                    keys.iter()
                        .map(|k| {
                            vec![
                                k.id.to_string(),
                                k.username.clone(),
                                k.name.clone(),
                                format!("{}…", k.prefix),
                                iso(k.created_at),
                                k.revoked_at.map(iso).unwrap_or_else(|| "-".into()),
                            ]
                        })
                        .collect(),
                );
            }
        }
        AdminCommand::Key(KeyCmd::Revoke {
            id: None,
            user: Some(who),
            name: Some(name),
        }) => {
            let u = user(db, &who).await?;
            let live: Vec<_> = db
                .list_api_keys(Some(u.id))
                .await?
                .into_iter()
                .filter(|k| k.name == name && k.revoked_at.is_none())
                .collect();
            if live.is_empty() {
                bail!("{who} has no live API key named {name:?}; see `granary admin key list --user {who}`");
            }
            for k in live {
                db.revoke_api_key(k.id).await?;
                println!("revoked key {}", k.id);
            }
        }
        AdminCommand::Key(KeyCmd::Revoke { id, .. }) => {
            let id = id.unwrap_or_default();
            let id =
                Uuid::parse_str(&id).with_context(|| format!("invalid key id {id:?}; see `granary admin key list`"))?;
            if !db.revoke_api_key(id).await? {
                bail!("no live API key with id {id}");
            }
            println!("revoked key {id}");
        }
    }
    Ok(())
}
