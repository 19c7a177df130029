//! `granary login` and the saved profile (server, key, org) the other commands read.
//! Flags beat environment variables, which beat the saved profile.

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::client::Client;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

#[derive(Serialize, Deserialize, Default, Clone)]
pub struct Profile {
    pub server: Option<String>,
    pub api_key: Option<String>,
    pub org: Option<String>,
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

pub fn load_profile() -> Result<Profile> {
    let path = profile_path()?;
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| {
            anyhow!(
                "invalid profile {}: {}",
                path.display(),
                crate::serve::toml_error(&text, &e)
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Profile::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save_profile(p: &Profile) -> Result<PathBuf> {
    let path = profile_path()?;
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    let text = toml::to_string(p)?;
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
    /// Registry URL [env: GRANARY_SERVER; default: the saved profile, else http://127.0.0.1:8080]
    #[arg(long, global = true)]
    pub server: Option<String>,
    /// API key [env: GRANARY_API_KEY; default: the saved profile]
    #[arg(long, global = true)]
    pub api_key: Option<String>,
    /// Organization [env: GRANARY_ORG; default: the saved profile]
    #[arg(long, global = true)]
    pub org: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Remote {
    /// The effective server, key (with where it came from) and org.
    pub fn resolve(&self) -> Result<(String, Option<KeyAndSource>, Option<String>)> {
        let p = load_profile()?;
        let server = self
            .server
            .clone()
            .or_else(|| env("GRANARY_SERVER"))
            .or(p.server)
            .unwrap_or_else(|| DEFAULT_SERVER.into());
        let flag = self.api_key.clone().filter(|k| !k.trim().is_empty());
        let key = match (flag, env("GRANARY_API_KEY"), p.api_key) {
            (Some(k), _, _) => Some((k, "--api-key".to_string())),
            (None, Some(k), _) => Some((k, "GRANARY_API_KEY".to_string())),
            (None, None, Some(k)) => Some((k, format!("the profile {}", profile_path()?.display()))),
            _ => None,
        };
        let org = self.org.clone().or_else(|| env("GRANARY_ORG")).or(p.org);
        Ok((server, key, org))
    }

    pub fn client(&self) -> Result<(Client, Option<String>)> {
        let (server, key, org) = self.resolve()?;
        let (key, source) =
            key.ok_or_else(|| anyhow!("no API key: run `granary login --api-key KEY` or set GRANARY_API_KEY"))?;
        Ok((Client::new(&server, &key, &source)?, org))
    }
}

#[derive(Args)]
pub struct LoginArgs {
    #[command(flatten)]
    remote: Remote,
}

pub async fn run(args: LoginArgs) -> Result<()> {
    let (server, key, org) = args.remote.resolve()?;
    let (key, source) = key.ok_or_else(|| anyhow!("pass --api-key KEY (or set GRANARY_API_KEY)"))?;
    let client = Client::new(&server, &key, &source)?;
    let user = client.get_json("/api/v1/user").await?;
    let orgs = client.get_json("/api/v1/user/organizations").await?;
    let keys: Vec<String> = orgs
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["key"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let org = match org {
        Some(o) if keys.contains(&o) => o,
        Some(o) => bail!("you are not a member of organization {o:?}; yours: {}", keys.join(", ")),
        None => keys
            .iter()
            .find(|k| *k == "default")
            .or(keys.first())
            .cloned()
            .ok_or_else(|| anyhow!("this key's user belongs to no organization; ask an operator to add you"))?,
    };
    let path = save_profile(&Profile {
        server: Some(client.base().to_string()),
        api_key: Some(key),
        org: Some(org.clone()),
    })?;
    println!(
        "Logged in to {} as {} (organization {org}); saved to {}",
        client.base(),
        user["username"].as_str().unwrap_or("?"),
        path.display()
    );
    Ok(())
}
