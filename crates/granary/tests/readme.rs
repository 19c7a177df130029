//! The README as a test: every `sh` block of README.md runs, in order, as a new user would
//! run it, against the binary this build made. `cargo run --release -- serve` starts that
//! binary's server (on a free port, which replaces `127.0.0.1:8080` in the later blocks),
//! `cargo install --locked` is checked by asking cargo whether `Cargo.lock` is complete
//! (what `--locked` needs), and `cargo test --workspace` is this suite itself.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// The README's fenced blocks, in order: (language, text).
fn blocks(readme: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in readme.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(lang)) => current = Some((lang.trim().to_string(), String::new())),
            (Some(_), Some(_)) => out.push(current.take().unwrap()),
            (Some((_, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// `granary serve` with the README's defaults (`./granary-data`) on a free port.
fn serve(dir: &Path) -> (std::process::Child, String) {
    let mut cmd = Command::new(BIN);
    clean(&mut cmd)
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        if let Some(addr) = line.strip_prefix("granary listening on ") {
            break addr.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn every_readme_command_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let mut server: Option<(Kill, String)> = None;
    let mut ran = 0;
    for (lang, text) in blocks(&readme) {
        match lang.as_str() {
            // The dataset the walkthrough publishes: its dataset.yaml as written, and data.
            "yaml" if text.starts_with("# my-dataset/dataset.yaml") => {
                let ds = dir.join("my-dataset");
                std::fs::create_dir_all(ds.join("data")).unwrap();
                std::fs::write(ds.join("dataset.yaml"), &text).unwrap();
                parquet_file(&ds.join("data/train.parquet"), 120);
                parquet_file(&ds.join("data/test.parquet"), 12);
            }
            "sh" => {
                let mut script = String::from("set -euo pipefail\n");
                for line in text.lines() {
                    match line.trim() {
                        "cargo run --release -- serve" => {
                            let (child, url) = serve(dir);
                            server = Some((Kill(child), url));
                        }
                        "cargo test --workspace" => {}
                        "cargo install --locked --path crates/granary" => {
                            // --locked succeeds only when Cargo.lock already holds every
                            // dependency the binary builds with: ask cargo, offline.
                            let out = Command::new(env!("CARGO"))
                                .current_dir(&root)
                                .args(["tree", "--locked", "--offline", "-p", "granary", "-e", "normal,build"])
                                .stdout(Stdio::null())
                                .output()
                                .unwrap();
                            assert!(
                                out.status.success(),
                                "Cargo.lock is not complete: {}",
                                String::from_utf8_lossy(&out.stderr)
                            );
                        }
                        _ => {
                            let url = server.as_ref().map_or("http://127.0.0.1:8080", |(_, u)| u.as_str());
                            script.push_str(&line.replace("http://127.0.0.1:8080", url));
                            script.push('\n');
                        }
                    }
                }
                let mut cmd = Command::new("bash");
                clean(&mut cmd)
                    .current_dir(dir)
                    .env("PATH", &path)
                    .env("HOME", dir)
                    .env("GRANARY_CONFIG_DIR", dir.join("cfg"))
                    .env("GRANARY_CACHE_DIR", dir.join("cache"))
                    .args(["-c", &script]);
                let out = cmd.output().unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    out.status.success() && !stderr.contains("error:"),
                    "README block failed ({:?}):\n{script}\nstdout: {}\nstderr: {stderr}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout)
                );
                ran += 1;
            }
            _ => {}
        }
    }
    assert!(server.is_some(), "the README starts a server");
    // Run it, Test it, Install, publish, find and fetch, profiles, operate.
    assert_eq!(ran, 7, "sh blocks run");
    // What the walkthrough did is there: the pull wrote the files and a dataset.yaml.
    assert!(dir.join("data/data/train.parquet").is_file());
    assert!(dir.join("data/dataset.yaml").is_file());
}
