//! `granary login`, `whoami`, `logout` and the saved profiles (server, key, org) the other
//! commands read. Flags beat environment variables, which beat the saved profile.
//!
//! Profiles live in `$GRANARY_CONFIG_DIR/config.toml` (else the platform's config
//! directory + `granary/config.toml`, mode 0600): the top-level `server`, `api_key` and
//! `org` are the profile `default`; `[profiles.NAME]` tables hold the others. The profile
//! used is `--profile`, else `GRANARY_PROFILE`, else `default`.

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::client::Client;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The name of the profile kept at the top level of the file.
pub const DEFAULT_PROFILE: &str = "default";

#[derive(Serialize, Deserialize, Default, Clone, PartialEq)]
pub struct Profile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

/// The whole config file: the default profile flattened at the top, named ones below.
#[derive(Serialize, Deserialize, Default)]
struct ConfigFile {
    #[serde(flatten)]
    default: Profile,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    profiles: BTreeMap<String, Profile>,
}

impl ConfigFile {
    fn get(&self, name: &str) -> Option<&Profile> {
        if name == DEFAULT_PROFILE {
            Some(&self.default)
        } else {
            self.profiles.get(name)
        }
    }

    fn set(&mut self, name: &str, p: Profile) {
        if name == DEFAULT_PROFILE {
            self.default = p;
        } else {
            self.profiles.insert(name.to_string(), p);
        }
    }

    fn names(&self) -> Vec<String> {
        let mut n = Vec::new();
        if self.default != Profile::default() {
            n.push(DEFAULT_PROFILE.to_string());
        }
        n.extend(self.profiles.keys().cloned());
        n
    }
}

/// `$GRANARY_CONFIG_DIR`, else the platform's config directory + `granary`.
fn config_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("GRANARY_CONFIG_DIR") {
        return Ok(PathBuf::from(d));
    }
    dirs::config_dir()
        .map(|d| d.join("granary"))
        .ok_or_else(|| anyhow!("cannot find a config directory; set GRANARY_CONFIG_DIR"))
}

fn profile_path() -> Result<PathBuf> {
    Ok(config_dir()?.join("config.toml"))
}

fn load_config() -> Result<ConfigFile> {
    let path = profile_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            anyhow!(
                "invalid profile file {}: {}: correct it, or delete it and run `granary login` again",
                path.display(),
                crate::serve::toml_error(&text, &e)
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save_config(c: &ConfigFile) -> Result<PathBuf> {
    let path = profile_path()?;
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    let text = toml::to_string(c)?;
    let tmp = path.with_extension("toml.tmp");
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    #[cfg(not(unix))]
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// An API key and where it came from (`--api-key`, `GRANARY_API_KEY`, the profile's path).
pub type KeyAndSource = (String, String);

/// Connection options every client command takes.
#[derive(Args, Clone, Default)]
pub struct Remote {
    /// Registry URL [env: GRANARY_SERVER; default: the profile's, else http://127.0.0.1:8080]
    #[arg(long, global = true)]
    pub server: Option<String>,
    /// API key [env: GRANARY_API_KEY; default: the profile's]
    #[arg(long, global = true)]
    pub api_key: Option<String>,
    /// Organization [env: GRANARY_ORG; default: the profile's]
    #[arg(long, global = true)]
    pub org: Option<String>,
    /// Saved profile to use [env: GRANARY_PROFILE; default: default]
    #[arg(long, global = true)]
    pub profile: Option<String>,
}

/// An environment variable's value; unset, empty and blank are all "not given".
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A profile name as a shell word, quoted when it needs to be.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What the flags, environment and profile together say.
pub struct Resolved {
    pub server: String,
    pub key: Option<KeyAndSource>,
    pub org: Option<String>,
    /// The profile read.
    pub profile: String,
}

impl Remote {
    /// The profile named by `--profile`, else `GRANARY_PROFILE`, else `default`. An empty
    /// `--profile` is an error.
    pub fn profile_name(&self) -> Result<String> {
        match &self.profile {
            Some(p) if p.trim().is_empty() => {
                bail!("--profile is empty: name a profile, or leave the flag out for the default one")
            }
            Some(p) => Ok(p.clone()),
            None => Ok(env("GRANARY_PROFILE").unwrap_or_else(|| DEFAULT_PROFILE.to_string())),
        }
    }

    /// The effective server, key (with where it came from), org and profile. A named
    /// profile (not `default`) that the file lacks is an error listing the ones it has.
    pub fn resolve(&self) -> Result<Resolved> {
        self.resolve_with(true)
    }

    /// As [`Self::resolve`]; a missing profile reads as empty unless `must_exist`.
    fn resolve_with(&self, must_exist: bool) -> Result<Resolved> {
        let config = load_config()?;
        let name = self.profile_name()?;
        let p = match config.get(&name) {
            Some(p) => p.clone(),
            None if !must_exist => Profile::default(),
            None => bail!(
                "no profile {name:?} in {}: run `granary login --profile {} --server URL --api-key KEY`{}",
                profile_path()?.display(),
                shell_word(&name),
                match config.names() {
                    n if n.is_empty() => String::new(),
                    n => format!(" (saved profiles: {})", n.join(", ")),
                }
            ),
        };
        let server = self
            .server
            .clone()
            .or_else(|| env("GRANARY_SERVER"))
            .or(p.server)
            .unwrap_or_else(|| DEFAULT_SERVER.into());
        if self.api_key.as_ref().is_some_and(|k| k.trim().is_empty()) {
            bail!("--api-key is empty: pass the key, or leave the flag out to use GRANARY_API_KEY or the profile");
        }
        let flag = self.api_key.clone();
        let key = match (flag, env("GRANARY_API_KEY"), p.api_key) {
            (Some(k), _, _) => Some((k, "--api-key".to_string())),
            (None, Some(k), _) => Some((k, "GRANARY_API_KEY".to_string())),
            (None, None, Some(k)) => Some((k, format!("the profile {name} in {}", profile_path()?.display()))),
            _ => None,
        };
        let org = self.org.clone().or_else(|| env("GRANARY_ORG")).or(p.org);
        Ok(Resolved {
            server,
            key,
            org,
            profile: name,
        })
    }

    pub fn client(&self) -> Result<(Client, Option<String>)> {
        let r = self.resolve()?;
        let (key, source) = r
            .key
            .ok_or_else(|| anyhow!("no API key: run `granary login --api-key KEY` or set GRANARY_API_KEY"))?;
        Ok((Client::new(&r.server, &key, &source)?, r.org))
    }
}

#[derive(Args)]
pub struct LoginArgs {
    #[command(flatten)]
    remote: Remote,
}

/// The user the registry takes the client's key for, and the keys of their organizations.
async fn user_and_orgs(client: &Client) -> Result<(serde_json::Value, Vec<String>)> {
    let user = client.get_json("/api/v1/user").await?;
    let orgs = client.get_json("/api/v1/user/organizations").await?;
    let keys = orgs
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["key"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Ok((user, keys))
}

pub async fn run(args: LoginArgs) -> Result<()> {
    let name = args.remote.profile_name()?;
    // Logging in creates the profile it names.
    let r = args.remote.resolve_with(false)?;
    let (key, source) = r
        .key
        .ok_or_else(|| anyhow!("pass --api-key KEY (or set GRANARY_API_KEY)"))?;
    let client = Client::new(&r.server, &key, &source)?;
    let (user, keys) = user_and_orgs(&client).await?;
    let org = match r.org {
        Some(o) if keys.contains(&o) => o,
        Some(o) => bail!("you are not a member of organization {o:?}; yours: {}", keys.join(", ")),
        None => keys
            .iter()
            .find(|k| *k == "default")
            .or(keys.first())
            .cloned()
            .ok_or_else(|| anyhow!("this key's user belongs to no organization; ask an operator to add you"))?,
    };
    let mut config = load_config()?;
    config.set(
        &name,
        Profile {
            server: Some(client.base().to_string()),
            api_key: Some(key),
            org: Some(org.clone()),
        },
    );
    let path = save_config(&config)?;
    let which = if name == DEFAULT_PROFILE {
        String::new()
    } else {
        format!(" as profile {name}")
    };
    println!(
        "Logged in to {} as {} (organization {org}); saved{which} to {}",
        client.base(),
        user["username"].as_str().unwrap_or("?"),
        path.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct WhoamiArgs {
    /// The answer as JSON: {username, user_id, server, organization, organizations, key_source, profile}
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// `granary whoami`: who the registry takes the key for, where the key came from, and the
/// organizations the user belongs to.
pub async fn whoami(args: WhoamiArgs) -> Result<()> {
    let r = args.remote.resolve()?;
    let (key, source) = r
        .key
        .ok_or_else(|| anyhow!("not logged in: run `granary login --api-key KEY` or set GRANARY_API_KEY"))?;
    let client = Client::new(&r.server, &key, &source)?;
    let (user, keys) = user_and_orgs(&client).await?;
    let username = user["username"].as_str().unwrap_or("?");
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "username": username, "user_id": user["id"], "server": client.base(),
                "organization": r.org, "organizations": keys, "key_source": source,
                "profile": r.profile,
            }))?
        );
        return Ok(());
    }
    println!("{username}");
    println!("server:        {}", client.base());
    println!("organization:  {}", r.org.as_deref().unwrap_or("-"));
    println!("organizations: {}", keys.join(", "));
    println!("key from:      {source}");
    Ok(())
}

#[derive(Args)]
pub struct LogoutArgs {
    /// The profile to forget [env: GRANARY_PROFILE; default: default]
    #[arg(long)]
    profile: Option<String>,
}

/// `granary logout`: removes a saved profile (its key with it). The key itself stays valid
/// on the registry: revoke it there (web UI, API keys) if it leaked.
pub async fn logout(args: LogoutArgs) -> Result<()> {
    let remote = Remote {
        profile: args.profile,
        ..Remote::default()
    };
    let name = remote.profile_name()?;
    let mut config = load_config()?;
    let had = match config.get(&name) {
        Some(p) => *p != Profile::default(),
        None => false,
    };
    if !had {
        println!("Not logged in (no saved profile {name})");
        return Ok(());
    }
    if name == DEFAULT_PROFILE {
        config.default = Profile::default();
    } else {
        config.profiles.remove(&name);
    }
    let path = save_config(&config)?;
    println!("Logged out: removed profile {name} from {}", path.display());
    if env("GRANARY_API_KEY").is_some() {
        eprintln!("note: GRANARY_API_KEY is still set in this environment");
    }
    Ok(())
}
