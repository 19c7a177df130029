//! skopeo (containers/image, Debian's `skopeo`) against `/v2/` with the real binary: an
//! image from an OCI layout is copied in through the token flow, its manifest read back
//! byte for byte, copied out to another layout with the same blobs, and deleted. On the
//! embedded default and, when the scale-out services are configured, PostgreSQL + S3.

mod common;

use common::*;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::process::Command;

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes an OCI image layout with one image tagged `v1`: an uncompressed tar layer of
/// one file and a config naming it. Returns the manifest's bytes.
fn layout(dir: &Path) -> Vec<u8> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let files = dir.join("rootfs");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("hello.txt"), "hello from skopeo\n").unwrap();
    let tar = dir.join("layer.tar");
    let st = Command::new("tar")
        .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "-cf"])
        .arg(&tar)
        .arg("-C")
        .arg(&files)
        .arg("hello.txt")
        .status()
        .unwrap();
    assert!(st.success());
    let layer = std::fs::read(&tar).unwrap();
    let layer_hex = sha(&layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hex}")]},
        "config": {}
    }))
    .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", sha(&config)), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": format!("sha256:{layer_hex}"), "size": layer.len()}]
    }))
    .unwrap();
    for b in [&layer, &config, &manifest] {
        std::fs::write(blobs.join(sha(b)), b).unwrap();
    }
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": format!("sha256:{}", sha(&manifest)), "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": "v1"}}]
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    manifest
}

fn skopeo(args: &[&str]) -> (bool, String) {
    let out = Command::new("skopeo").args(args).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn skopeo_copies_images_in_and_out() {
    if Command::new("skopeo").arg("--version").output().is_err() {
        eprintln!("skipped: skopeo is needed (apt-get install skopeo)");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let manifest = layout(&src);
    for b in backends(&rt) {
        let label = b.label;
        let root = &tmp.path().join(label);
        std::fs::create_dir_all(root).unwrap();
        let s = serve(root, &b, &[]);
        let key = s.admin_key();
        let creds = format!("__token__:{key}");
        let host = s.url.strip_prefix("http://").unwrap();
        let remote = format!("docker://{host}/default/hello:v1");
        let policy = root.join("policy.json");
        std::fs::write(&policy, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
        let policy = policy.to_str().unwrap();
        let (ok_in, out) = skopeo(&[
            "--policy",
            policy,
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-creds",
            &creds,
            &format!("oci:{}:v1", src.display()),
            &remote,
        ]);
        assert!(ok_in, "{label}: skopeo copy in: {out}");
        let (ok_raw, raw) = skopeo(&["inspect", "--raw", "--tls-verify=false", "--creds", &creds, &remote]);
        assert!(ok_raw, "{label}: inspect: {raw}");
        assert_eq!(
            raw.as_bytes(),
            manifest.as_slice(),
            "{label}: the manifest read back differs"
        );
        let dest = root.join("out");
        let (ok_out, out) = skopeo(&[
            "--policy",
            policy,
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--src-creds",
            &creds,
            &remote,
            &format!("oci:{}:v1", dest.display()),
        ]);
        assert!(ok_out, "{label}: skopeo copy out: {out}");
        for f in std::fs::read_dir(src.join("blobs/sha256")).unwrap() {
            let f = f.unwrap();
            assert_eq!(
                std::fs::read(dest.join("blobs/sha256").join(f.file_name())).unwrap(),
                std::fs::read(f.path()).unwrap(),
                "{label}: blob {:?} differs",
                f.file_name()
            );
        }
        // The generic image is no dataset.
        ok(&run(root, &["login", "--server", &s.url, "--api-key", &key]));
        let listed = ok(&run(root, &["dataset", "list"]));
        assert!(!listed.contains("hello"), "{label}: {listed}");
        // Deleting (the admin owns the org) removes it.
        let (ok_del, out) = skopeo(&["delete", "--tls-verify=false", "--creds", &creds, &remote]);
        assert!(ok_del, "{label}: skopeo delete: {out}");
        let (found, _) = skopeo(&["inspect", "--raw", "--tls-verify=false", "--creds", &creds, &remote]);
        assert!(!found, "{label}: the image is still there after delete");
    }
}
