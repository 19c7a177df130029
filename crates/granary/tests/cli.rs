//! The real binary against a real server on a loopback port.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

#[test]
fn first_start_creates_admin_and_a_private_key_file_once() {
    let tmp = tempfile::tempdir().unwrap();
    let key;
    {
        let s = start(tmp.path(), &[]);
        key = s.admin_key();
        assert!(key.starts_with("gra_") && key.len() > 40);
        assert!(s.banner.contains(&key), "the key is printed once: {}", s.banner);
        assert!(s.banner.contains("granary dataset push"), "{}", s.banner);
        assert!(
            s.banner.contains("/ in a browser and sign in with the key"),
            "{}",
            s.banner
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(s.data.join("initial-admin-key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let out = run(tmp.path(), &["login", "--server", &s.url, "--api-key", &key]);
        assert!(ok(&out).starts_with(&format!("Logged in to {} as admin (organization default)", s.url)));
    }
    let s = start(tmp.path(), &[]);
    assert!(!s.banner.contains("gra_"), "no new key on a second start: {}", s.banner);
    assert_eq!(s.admin_key(), key);
}

#[test]
fn inspect_push_info_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), &[]);
    let dir = dataset_dir(tmp.path(), "qa", "1.2.0");

    let inspected: serde_json::Value = serde_json::from_str(&ok(&run(
        tmp.path(),
        &["dataset", "inspect", dir.to_str().unwrap(), "--json"],
    )))
    .unwrap();
    assert_eq!(inspected["name"], "qa");
    assert_eq!(inspected["version"], "1.2.0");
    assert_eq!(inspected["row_count"], 1234);
    assert_eq!(inspected["size_category"], "1K<n<10K");
    assert_eq!(
        inspected["data_schema"],
        serde_json::json!({"id": "int64", "question": "string"})
    );
    let human = ok(&run(tmp.path(), &["dataset", "inspect", dir.to_str().unwrap()]));
    assert!(human.contains("rows:      1,234"), "{human}");
    assert!(human.contains("question  string"), "{human}");

    ok(&run(
        tmp.path(),
        &["login", "--server", &s.url, "--api-key", &s.admin_key()],
    ));
    let out = run(tmp.path(), &["dataset", "push", dir.to_str().unwrap()]);
    let stdout = ok(&out);
    let digest = stdout
        .trim()
        .strip_prefix("Pushed default/qa@1.2.0 (")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 file(s) uploaded, 0 already on the server"));
    // pushing again finds the version holds these files and sends nothing
    let again = run(tmp.path(), &["dataset", "push", dir.to_str().unwrap()]);
    assert_eq!(
        ok(&again).trim(),
        format!("Already published default/qa@1.2.0 ({digest})")
    );
    assert!(String::from_utf8_lossy(&again.stderr)
        .contains("nothing to push: these files and fields are what default/qa@1.2.0 holds"));

    let info: serde_json::Value = serde_json::from_str(&ok(&run(
        tmp.path(),
        &["dataset", "info", "default/qa@1.2.0", "--json"],
    )))
    .unwrap();
    assert_eq!(info["manifest_digest"], digest);
    assert_eq!(info["row_count"], 1234);
    assert_eq!(info["splits"]["train"], "data/train.parquet");
    assert_eq!(info["files"].as_array().unwrap().len(), 2);
    assert_eq!(info["license"], "apache-2.0");
    // the first rows, as the registry previews them
    let preview: serde_json::Value = serde_json::from_str(&ok(&run(
        tmp.path(),
        &["dataset", "preview", "qa", "--split", "test", "--limit", "2", "--json"],
    )))
    .unwrap();
    assert_eq!(
        (&preview["version"], &preview["split"], &preview["rows"]),
        (
            &serde_json::json!("1.2.0"),
            &serde_json::json!("test"),
            &serde_json::json!([{"id": 0, "question": "question 0"}, {"id": 1, "question": "question 1"}])
        ),
        "{preview}"
    );
    let shown = ok(&run(tmp.path(), &["dataset", "preview", "qa@1.2.0", "--limit", "1"]));
    assert_eq!(shown, "id  question\n0   question 0\n");
    // a reader that goes away (`| head`) ends the command quietly, as SIGPIPE would
    for args in [
        &["dataset", "info", "qa"][..],
        &["dataset", "preview", "qa", "--json"],
        &["dataset", "list"],
    ] {
        let mut cmd = Command::new(BIN);
        clean(&mut cmd)
            .current_dir(tmp.path())
            .env("GRANARY_CONFIG_DIR", tmp.path().join("cfg"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(141),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
    // the stored bytes are the local bytes
    let local = std::fs::read(dir.join("data/train.parquet")).unwrap();
    let train = info["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["split"] == "train")
        .unwrap();
    assert_eq!(train["size"], local.len() as u64);
    let human = ok(&run(tmp.path(), &["dataset", "info", "qa"]));
    assert!(human.starts_with("default/qa@1.2.0\n"), "{human}");

    // a changed file under the same version is refused
    parquet_file(&dir.join("data/test.parquet"), 35);
    let err = fails(&run(tmp.path(), &["dataset", "push", dir.to_str().unwrap()]));
    assert!(
        err.contains("default/qa@1.2.0 is already published with different files (data/test.parquet)"),
        "{err}"
    );
    assert!(
        err.contains("versions are immutable: set a new version (`version:` in dataset.yaml or --version)"),
        "{err}"
    );

    // a csv dataset: its schema and rows come from the server, and match a local inspect
    let csv_dir = tmp.path().join("scores");
    std::fs::create_dir_all(&csv_dir).unwrap();
    std::fs::write(csv_dir.join("dataset.yaml"), "name: scores\nversion: 1.0.0\n").unwrap();
    std::fs::write(csv_dir.join("a.csv"), "id,name,score\n1,ann,0.5\n2,bob,1.25\n3,cy,\n").unwrap();
    let local: serde_json::Value = serde_json::from_str(&ok(&run(
        tmp.path(),
        &["dataset", "inspect", csv_dir.to_str().unwrap(), "--json"],
    )))
    .unwrap();
    ok(&run(tmp.path(), &["dataset", "push", csv_dir.to_str().unwrap()]));
    let info: serde_json::Value =
        serde_json::from_str(&ok(&run(tmp.path(), &["dataset", "info", "scores", "--json"]))).unwrap();
    assert_eq!(info["row_count"], 3);
    assert_eq!(info["row_count"], local["row_count"]);
    assert_eq!(info["data_schema"], local["data_schema"]);
    // a ragged csv: refused by the server, in one line naming the file
    std::fs::write(csv_dir.join("dataset.yaml"), "name: scores\nversion: 1.0.1\n").unwrap();
    std::fs::write(csv_dir.join("a.csv"), "id,name\n1,ann\n2,bob,extra\n").unwrap();
    let err = fails(&run(tmp.path(), &["dataset", "push", csv_dir.to_str().unwrap()]));
    assert!(err.starts_with("error: a.csv: "), "{err}");
    assert!(err.contains("not a readable csv file"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn bad_input_is_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mk = |name: &str, yaml: Option<&str>, files: &[(&str, &[u8])]| {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        if let Some(y) = yaml {
            std::fs::write(d.join("dataset.yaml"), y).unwrap();
        }
        for (f, b) in files {
            std::fs::write(d.join(f), b).unwrap();
        }
        d.to_str().unwrap().to_string()
    };
    let cases = [
        (mk("noyaml", None, &[("a.csv", b"x\n1\n")]), "error: no dataset.yaml in"),
        (
            mk("badver", Some("version: 1.0.0-rc1\n"), &[("a.csv", b"x\n1\n")]),
            "error: dataset.yaml line 1: invalid version \"1.0.0-rc1\"",
        ),
        (
            mk("floatver", Some("name: f\nversion: 1.10\n"), &[("a.csv", b"x\n1\n")]),
            "error: dataset.yaml line 2: invalid version \"1.10\": expected MAJOR.MINOR.PATCH",
        ),
        (
            mk("hugever", Some("version: 9223372036854775808.0.0\n"), &[("a.csv", b"x\n1\n")]),
            "error: dataset.yaml line 1: invalid version \"9223372036854775808.0.0\": each of MAJOR, MINOR and PATCH is at most 9223372036854775807",
        ),
        (
            mk("badtype", Some("name: t\r\nlicense: [mit]\r\n"), &[("a.csv", b"x\n1\n")]),
            "error: dataset.yaml line 2: `license: [mit]`: license: invalid type: sequence, expected a string",
        ),
        (
            mk(
                "badparquet",
                Some("name: p\n"),
                &[("a.parquet", b"PAR1 not really parquet PAR1")],
            ),
            "error: a.parquet: not a readable parquet file",
        ),
        (
            mk("nodata", Some("name: n\n"), &[("README.md", b"hi")]),
            "error: no data files in",
        ),
        (
            mk("badname", Some("name: Bad Name\n"), &[("a.csv", b"x\n1\n")]),
            "error: dataset.yaml line 1: invalid dataset name",
        ),
        (
            mk("missing", Some("name: m\nfiles: [gone.csv]\n"), &[]),
            "error: dataset.yaml lists gone.csv, but there is no such file",
        ),
        (
            mk("xlsx", Some("name: x\nfiles: [a.xlsx]\n"), &[("a.xlsx", b"PK\x03\x04")]),
            "error: dataset.yaml lists a.xlsx: .xlsx files are not supported; use parquet, csv, json, jsonl, arrow or feather files",
        ),
        (
            mk("mixed", Some("name: mx\n"), &[("a.csv", b"x\n1\n"), ("b.jsonl", b"{\"x\": 1}\n")]),
            "error: ",
        ),
    ];
    let mixed = fails(&run(
        root,
        &["dataset", "inspect", &root.join("mixed").to_string_lossy()],
    ));
    assert!(
        mixed.contains(
            "mixes data formats (csv: a.csv; jsonl: b.jsonl): without `files:` or `splits:` a directory is published in one format"
        ),
        "{mixed}"
    );
    assert_eq!(mixed.trim_end().lines().count(), 1, "{mixed}");
    for (dir, want) in cases {
        for cmd in ["inspect", "push"] {
            let err = fails(&run(
                root,
                &["dataset", cmd, &dir, "--json"][..if cmd == "inspect" { 4 } else { 3 }],
            ));
            assert!(err.starts_with(want), "{cmd} {dir}: {err}");
        }
    }
    let err = fails(&run(
        root,
        &[
            "dataset",
            "info",
            "x",
            "--server",
            "http://127.0.0.1:1",
            "--api-key",
            "k",
            "--org",
            "o",
        ],
    ));
    assert!(err.starts_with("error: cannot reach http://127.0.0.1:1"), "{err}");
    let err = fails(&run(
        root,
        &["dataset", "info", "x@1.0", "--api-key", "k", "--org", "o"],
    ));
    assert!(err.starts_with("error: invalid version \"1.0\""), "{err}");
}

#[test]
fn admin_commands_script_orgs_users_members_and_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), &[]);
    let data = s.data.to_str().unwrap();
    let admin = |args: &[&str]| {
        let mut a = vec!["admin", "--data-dir", data];
        a.extend_from_slice(args);
        run(tmp.path(), &a)
    };
    ok(&admin(&["org", "create", "acme", "--name", "Acme Labs"]));
    assert!(fails(&admin(&["org", "create", "acme"])).contains("already exists"));
    ok(&admin(&["user", "create", "bob", "--email", "bob@acme.io"]));
    ok(&admin(&["member", "add", "acme", "bob", "--role", "contributor"]));
    let members: serde_json::Value = serde_json::from_str(&ok(&admin(&["member", "list", "acme", "--json"]))).unwrap();
    assert_eq!(members[0]["username"], "bob");
    assert_eq!(members[0]["role"], "contributor");
    let key = ok(&admin(&["key", "create", "bob", "--name", "laptop"]));
    assert_eq!(key.lines().count(), 1, "the key alone on stdout");
    let key = key.trim().to_string();
    assert!(key.starts_with("gra_"));

    // the key works against the running server, for bob's org
    let out = ok(&run(tmp.path(), &["login", "--server", &s.url, "--api-key", &key]));
    assert!(
        out.starts_with(&format!("Logged in to {} as bob (organization acme)", s.url)),
        "{out}"
    );
    let dir = dataset_dir(tmp.path(), "bobs", "0.1.0");
    assert!(ok(&run(tmp.path(), &["dataset", "push", dir.to_str().unwrap()])).starts_with("Pushed acme/bobs@0.1.0"));

    let keys: serde_json::Value =
        serde_json::from_str(&ok(&admin(&["key", "list", "--user", "bob", "--json"]))).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["name"], "laptop");
    assert!(keys[0].get("key").is_none(), "listing never shows keys");
    let id = keys[0]["id"].as_str().unwrap();
    ok(&admin(&["key", "revoke", id]));
    let err = fails(&run(tmp.path(), &["dataset", "info", "bobs"]));
    assert!(
        err.starts_with("error: invalid or revoked API key (HTTP 401): the registry at "),
        "{err}"
    );
    assert!(fails(&admin(&["key", "revoke", id])).contains("no live API key"));

    // store flags may also follow the subcommand
    let late = ok(&run(
        tmp.path(),
        &["admin", "org", "list", "--json", "--data-dir", data],
    ));
    assert!(late.contains("\"acme\""), "{late}");

    // output into a pipe whose reader has gone: the command ends quietly with the status of
    // SIGPIPE (141), no panic
    let mut child = std::process::Command::new(common::BIN)
        .args(["admin", "--data-dir", data, "key", "list"])
        .env("GRANARY_CONFIG_DIR", tmp.path().join("cfg"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before anything is written
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{:?} {stderr}", out.status);
    assert_eq!(stderr, "");
}

#[test]
fn config_file_and_flags_resolve_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let from_file = tmp.path().join("from-file");
    std::fs::write(
        tmp.path().join("granary.toml"),
        format!("data_dir = {:?}\nlisten = \"127.0.0.1:0\"\n", from_file),
    )
    .unwrap();
    // ./granary.toml is read when present: the flag given in `start` wins over its data_dir
    let s = start(tmp.path(), &[]);
    assert!(s.data.join("initial-admin-key").is_file());
    assert!(!from_file.exists());
    drop(s);
    // without the flag, the file's data_dir is used
    let mut cmd = Command::new(BIN);
    clean(&mut cmd)
        .current_dir(tmp.path())
        .args(["admin", "org", "list", "--json"]);
    let out = cmd.output().unwrap();
    ok(&out);
    assert!(from_file.join("granary.db").is_file());
    // a broken config file is one clear line
    std::fs::write(tmp.path().join("granary.toml"), "listen = 5\n").unwrap();
    let mut cmd = Command::new(BIN);
    clean(&mut cmd).current_dir(tmp.path()).args(["admin", "org", "list"]);
    let err = fails(&cmd.output().unwrap());
    assert_eq!(
        err,
        "error: invalid config file granary.toml: line 1: invalid type: integer `5`, expected a string"
    );
}

#[test]
fn list_pull_publish_activity_and_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), &[]);
    let root = tmp.path();
    ok(&run(root, &["login", "--server", &s.url, "--api-key", &s.admin_key()]));
    let dir = dataset_dir(root, "qa", "1.0.0");
    ok(&run(root, &["dataset", "push", dir.to_str().unwrap()]));

    let listed: serde_json::Value =
        serde_json::from_str(&ok(&run(root, &["dataset", "list", "--tag", "qa", "--json"]))).unwrap();
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["datasets"][0]["name"], "default/qa");
    let none: serde_json::Value =
        serde_json::from_str(&ok(&run(root, &["dataset", "list", "--tag", "vision", "--json"]))).unwrap();
    assert_eq!(none["total"], 0);
    let table = ok(&run(root, &["dataset", "list", "questions"]));
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..4], ["default/qa", "1.0.0", "parquet", "1,234"], "{table}");
    let err = fails(&run(root, &["dataset", "list", "--sort-by", "size"]));
    assert!(
        err.starts_with("error: --sort-by: ") && err.ends_with("(HTTP 422)"),
        "{err}"
    );

    // pull writes every file, verified
    let out = root.join("out");
    let pulled = ok(&run(
        root,
        &["dataset", "pull", "qa", "--output", out.to_str().unwrap()],
    ));
    assert_eq!(pulled.trim(), format!("Pulled default/qa@1.0.0 into {}", out.display()));
    for f in ["data/train.parquet", "data/test.parquet"] {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(dir.join(f)).unwrap(),
            "{f}"
        );
    }
    // intact files are not downloaded (or counted) again
    let again = ok(&run(
        root,
        &["dataset", "pull", "qa@1.0.0", "-o", out.to_str().unwrap()],
    ));
    assert!(again.contains("already in"), "{again}");
    let activity = |root: &Path| -> serde_json::Value {
        serde_json::from_str(&ok(&run(root, &["dataset", "activity", "--json"]))).unwrap()
    };
    assert_eq!(activity(root)["total"], 1);

    // an interrupted file resumes from its .part; a corrupt .part starts over
    let train = std::fs::read(dir.join("data/train.parquet")).unwrap();
    std::fs::remove_file(out.join("data/train.parquet")).unwrap();
    std::fs::write(out.join("data/train.parquet.part"), &train[..train.len() / 2]).unwrap();
    ok(&run(
        root,
        &["dataset", "pull", "qa", "-o", out.to_str().unwrap(), "--split", "train"],
    ));
    assert_eq!(std::fs::read(out.join("data/train.parquet")).unwrap(), train);
    assert!(!out.join("data/train.parquet.part").exists());
    std::fs::remove_file(out.join("data/train.parquet")).unwrap();
    std::fs::write(out.join("data/train.parquet.part"), b"garbage that is not the file").unwrap();
    ok(&run(root, &["dataset", "pull", "qa", "-o", out.to_str().unwrap()]));
    assert_eq!(std::fs::read(out.join("data/train.parquet")).unwrap(), train);
    let a = activity(root);
    assert_eq!(a["total"], 3);
    assert_eq!(a["events"][1]["split"], "train");
    // users by the name the table shows
    let by_name: serde_json::Value =
        serde_json::from_str(&ok(&run(root, &["dataset", "activity", "--user", "admin", "--json"]))).unwrap();
    assert_eq!(by_name["total"], 3);
    let err = fails(&run(root, &["dataset", "activity", "--user", "nobody"]));
    assert!(
        err.contains("\"nobody\" is neither a user id (UUID) nor a username"),
        "{err}"
    );

    // publish makes it visible to another org; unpublish hides it
    let data = s.data.to_str().unwrap();
    ok(&run(root, &["admin", "--data-dir", data, "org", "create", "acme"]));
    ok(&run(root, &["admin", "--data-dir", data, "user", "create", "ann"]));
    ok(&run(
        root,
        &[
            "admin",
            "--data-dir",
            data,
            "member",
            "add",
            "acme",
            "ann",
            "--role",
            "owner",
        ],
    ));
    let ann = ok(&run(root, &["admin", "--data-dir", data, "key", "create", "ann"]))
        .trim()
        .to_string();
    let as_ann = ["--server", s.url.as_str(), "--api-key", ann.as_str()];
    let info_as_ann = |root: &Path| run(root, &[&["dataset", "info", "default/qa"][..], &as_ann[..]].concat());
    assert!(fails(&info_as_ann(root)).contains("(HTTP 404)"));
    assert_eq!(
        ok(&run(root, &["dataset", "publish", "qa"])).trim(),
        "Published default/qa"
    );
    ok(&info_as_ann(root));
    assert_eq!(
        ok(&run(root, &["dataset", "unpublish", "qa"])).trim(),
        "Unpublished default/qa"
    );
    assert!(fails(&info_as_ann(root)).contains("(HTTP 404)"));

    // delete asks on a terminal and refuses without one
    let err = fails(&run(root, &["dataset", "delete", "qa@1.0.0"]));
    assert_eq!(
        err,
        "error: refusing to delete default/qa@1.0.0 without --yes when not on a terminal"
    );
    assert_eq!(
        ok(&run(root, &["dataset", "delete", "qa@1.0.0", "--yes"])).trim(),
        "Deleted default/qa@1.0.0"
    );
    assert!(fails(&run(root, &["dataset", "info", "qa"])).contains("(HTTP 404)"));
}

#[test]
fn unreachable_backends_stop_start_up_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let serve = |extra: &[&str]| {
        let mut cmd = Command::new(BIN);
        clean(&mut cmd)
            .current_dir(tmp.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
        cmd.output().unwrap()
    };
    let err = fails(&serve(&[
        "--database-url",
        "postgres://granary:hunter2@127.0.0.1:1/granary",
    ]));
    assert!(
        err.starts_with("error: metadata database: cannot connect to postgres://granary:***@127.0.0.1:1/granary"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "the password is never printed: {err}");
    let err = fails(&serve(&["--database-url", "mysql://x"]));
    assert!(err.contains("unsupported database URL scheme \"mysql\""), "{err}");
    let err = fails(&serve(&[
        "--blob-store",
        "s3://bucket?endpoint=http://127.0.0.1:1&region=us-east-1",
    ]));
    assert!(
        err.starts_with("error: blob store: cannot reach the blob store s3://bucket/"),
        "{err}"
    );
    let mut no_credentials = Command::new(BIN);
    clean(&mut no_credentials).current_dir(tmp.path()).args([
        "serve",
        "--blob-store",
        "s3://bucket?endpoint=http://127.0.0.1:1",
    ]);
    no_credentials
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE");
    no_credentials
        .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    let err = fails(&no_credentials.output().unwrap());
    assert!(err.starts_with("error: blob store: no S3 credentials"), "{err}");
    let err = fails(&serve(&["--blob-store", "gs://bucket"]));
    assert!(err.contains("unsupported blob store \"gs\""), "{err}");
    let err = fails(&serve(&["--download-mode", "teleport"]));
    assert_eq!(err, "error: invalid download mode \"teleport\": use stream or redirect");
}

/// The CLI end to end against a server on PostgreSQL + S3, when those are configured.
#[test]
fn scale_out_round_trip() {
    let (Ok(db_url), Ok(s3_url)) = (
        std::env::var("GRANARY_TEST_DATABASE_URL"),
        std::env::var("GRANARY_TEST_S3_URL"),
    ) else {
        eprintln!("skipped: set GRANARY_TEST_DATABASE_URL and GRANARY_TEST_S3_URL to run against PostgreSQL + S3");
        return;
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt
        .block_on(granary_db::sql::create_postgres_database(&db_url, &name))
        .unwrap();
    let (base, query) = s3_url.split_once('?').unwrap_or((&s3_url, ""));
    let blobs = format!("{}/{name}?{query}", base.trim_end_matches('/'));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = start(root, &["--database-url", &url, "--blob-store", &blobs]);
    ok(&run(root, &["login", "--server", &s.url, "--api-key", &s.admin_key()]));
    let dir = dataset_dir(root, "pgqa", "2.0.0");
    assert!(
        ok(&run(root, &["dataset", "push", dir.to_str().unwrap()])).starts_with("Pushed default/pgqa@2.0.0 (sha256:")
    );
    let listed: serde_json::Value = serde_json::from_str(&ok(&run(root, &["dataset", "list", "--json"]))).unwrap();
    assert_eq!(listed["total"], 1);
    let out = root.join("out");
    ok(&run(root, &["dataset", "pull", "pgqa", "-o", out.to_str().unwrap()]));
    assert_eq!(
        std::fs::read(out.join("data/train.parquet")).unwrap(),
        std::fs::read(dir.join("data/train.parquet")).unwrap()
    );
    let a: serde_json::Value = serde_json::from_str(&ok(&run(root, &["dataset", "activity", "--json"]))).unwrap();
    assert_eq!(a["total"], 1);
    ok(&run(root, &["dataset", "delete", "pgqa@2.0.0", "--yes"]));
    assert!(fails(&run(root, &["dataset", "info", "pgqa"])).contains("(HTTP 404)"));
}

#[test]
fn large_files_are_hashed_as_they_upload_and_not_sent_twice() {
    use sha2::Digest as _;
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), &[]);
    let dir = tmp.path().join("big");
    std::fs::create_dir_all(&dir).unwrap();
    // a 12 MiB csv (streamed while hashed) and a small one (hashed first)
    let mut big = String::from("id,text\n");
    let mut i = 0u64;
    while big.len() < 12 << 20 {
        big.push_str(&format!("{i},row number {i} of a file big enough to be streamed\n"));
        i += 1;
    }
    std::fs::write(dir.join("big.csv"), &big).unwrap();
    std::fs::write(dir.join("small.csv"), "id,text\n1,a\n2,b\n").unwrap();
    std::fs::write(dir.join("dataset.yaml"), "name: big\nversion: 1.0.0\n").unwrap();
    ok(&run(
        tmp.path(),
        &["login", "--server", &s.url, "--api-key", &s.admin_key()],
    ));
    let push = || run(tmp.path(), &["dataset", "push", dir.to_str().unwrap()]);

    let first = push();
    let digest = ok(&first).trim().to_string();
    assert!(String::from_utf8_lossy(&first.stderr).contains("2 file(s) uploaded, 0 already on the server"));
    let info: serde_json::Value =
        serde_json::from_str(&ok(&run(tmp.path(), &["dataset", "info", "big@1.0.0", "--json"]))).unwrap();
    let stored = info["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "big.csv")
        .unwrap();
    assert_eq!(
        stored["digest"],
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(big.as_bytes())))
    );
    assert_eq!(info["row_count"], i + 2);

    assert!(digest.starts_with("Pushed default/big@1.0.0 (sha256:"), "{digest}");

    // a new version: the digest cache knows the big file, the server has both
    std::fs::write(dir.join("dataset.yaml"), "name: big\nversion: 1.0.1\n").unwrap();
    let again = push();
    assert!(ok(&again).starts_with("Pushed default/big@1.0.1 (sha256:"));
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 file(s) uploaded, 2 already on the server"));

    // without the cache the big file is sent again (the small one is hashed first)
    std::fs::remove_dir_all(tmp.path().join("cache")).unwrap();
    std::fs::write(dir.join("dataset.yaml"), "name: big\nversion: 1.0.2\n").unwrap();
    let cold = push();
    assert!(ok(&cold).starts_with("Pushed default/big@1.0.2 (sha256:"));
    assert!(String::from_utf8_lossy(&cold.stderr).contains("1 file(s) uploaded, 1 already on the server"));

    // a changed file is not taken for the cached one: the version is refused before upload
    std::fs::write(dir.join("big.csv"), big.replace("row number 7 ", "row number 8 ")).unwrap();
    let err = fails_after_progress(&push());
    assert!(
        err.contains("default/big@1.0.2 is already published with different files (big.csv)"),
        "{err}"
    );
}

#[test]
fn tables_per_split_are_inspected_pushed_and_shown_per_file() {
    // Two csv tables: refused by inspect outside splits with the server's words; as splits,
    // inspect, push and info agree on each file's schema and rows.
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), &[]);
    let dir = tmp.path().join("flights");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("airlines.csv"), "carrier,name\nAA,American\n").unwrap();
    std::fs::write(dir.join("airports.csv"), "faa,lat\nJFK,40.6\nLGA,40.7\n").unwrap();
    std::fs::write(dir.join("dataset.yaml"), "name: flights\nversion: 1.0.0\n").unwrap();
    let d = dir.to_str().unwrap();
    let err = fails(&run(tmp.path(), &["dataset", "inspect", d]));
    assert_eq!(
        err.trim_end(),
        "error: airlines.csv and airports.csv have different columns: airlines.csv has columns \"carrier\", \"name\" that airports.csv lacks, airports.csv has columns \"faa\", \"lat\" that airlines.csv lacks; files that hold different tables must each be their own split: map airlines.csv and airports.csv to their own splits (`splits:` in dataset.yaml), or publish them as separate datasets"
    );
    std::fs::write(
        dir.join("dataset.yaml"),
        "name: flights\nversion: 1.0.0\nsplits:\n  train: airports.csv\n  carriers: airlines.csv\n",
    )
    .unwrap();
    let inspected: serde_json::Value =
        serde_json::from_str(&ok(&run(tmp.path(), &["dataset", "inspect", d, "--json"]))).unwrap();
    assert_eq!(
        inspected["data_schema"],
        serde_json::json!({"faa": "string", "lat": "double"})
    );
    assert_eq!(
        inspected["files"][0]["data_schema"],
        serde_json::json!({"carrier": "string", "name": "string"})
    );
    assert_eq!(inspected["files"][0]["row_count"], 1);
    let human = ok(&run(tmp.path(), &["dataset", "inspect", d]));
    assert!(
        human.contains("airlines.csv (split carriers):\nCOLUMN   TYPE\ncarrier  string\nname     string\n"),
        "{human}"
    );

    ok(&run(
        tmp.path(),
        &["login", "--server", &s.url, "--api-key", &s.admin_key()],
    ));
    ok(&run(tmp.path(), &["dataset", "push", d]));
    let info: serde_json::Value =
        serde_json::from_str(&ok(&run(tmp.path(), &["dataset", "info", "flights", "--json"]))).unwrap();
    assert_eq!(info["data_schema"], inspected["data_schema"]);
    for i in 0..2 {
        assert_eq!(info["files"][i]["data_schema"], inspected["files"][i]["data_schema"]);
        assert_eq!(info["files"][i]["row_count"], inspected["files"][i]["row_count"]);
    }
    let human = ok(&run(tmp.path(), &["dataset", "info", "flights"]));
    assert!(
        human.contains("airports.csv (split train):\nCOLUMN  TYPE\nfaa     string\nlat     double\n"),
        "{human}"
    );
    assert!(human.contains("FILE          SPLIT     ROWS"), "{human}");

    // json and jsonl files (and arrow and feather) are one format: a directory of both is
    // one table.
    let jj = tmp.path().join("jj");
    std::fs::create_dir_all(&jj).unwrap();
    std::fs::write(jj.join("a.json"), "{\"x\": 1}\n").unwrap();
    std::fs::write(jj.join("b.jsonl"), "{\"x\": 2}\n").unwrap();
    std::fs::write(jj.join("dataset.yaml"), "name: jj\nversion: 1.0.0\n").unwrap();
    let jj: serde_json::Value = serde_json::from_str(&ok(&run(
        tmp.path(),
        &["dataset", "inspect", jj.to_str().unwrap(), "--json"],
    )))
    .unwrap();
    assert_eq!(jj["row_count"], 2);

    // Parquet files are read before anything is sent: different tables are refused
    // without reaching the server (none listens at this address).
    let pq = tmp.path().join("pq");
    std::fs::create_dir_all(&pq).unwrap();
    parquet_file(&pq.join("a.parquet"), 3);
    let other: arrow_array::ArrayRef = std::sync::Arc::new(arrow_array::Int64Array::from(vec![1, 2]));
    let batch = arrow_array::RecordBatch::try_from_iter([("other", other)]).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(pq.join("b.parquet")).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    std::fs::write(pq.join("dataset.yaml"), "name: pq\nversion: 1.0.0\n").unwrap();
    let err = fails(&run(
        tmp.path(),
        &[
            "dataset",
            "push",
            pq.to_str().unwrap(),
            "--server",
            "http://127.0.0.1:1",
            "--api-key",
            "k",
            "--org",
            "o",
        ],
    ));
    assert!(
        err.starts_with("error: a.parquet and b.parquet have different columns: a.parquet has columns \"id\", \"question\" that b.parquet lacks"),
        "{err}"
    );
}

#[test]
fn any_yaml_1_2_document_reads_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("yaml");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("a.csv"), "x\n1\n").unwrap();
    // A byte order mark, CRLF line ends, a tab inside a scalar, an anchor and an alias.
    std::fs::write(
        d.join("dataset.yaml"),
        "\u{feff}name: yaml\r\nversion: 1.10.0\r\nsummary: one\ttwo\r\nlicense: &l mit\r\npretty_name: *l\r\n",
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&run(
        tmp.path(),
        &["dataset", "inspect", d.to_str().unwrap(), "--json"],
    )))
    .unwrap();
    assert_eq!(
        (
            &v["name"],
            &v["version"],
            &v["summary"],
            &v["license"],
            &v["pretty_name"]
        ),
        (
            &serde_json::json!("yaml"),
            &serde_json::json!("1.10.0"),
            &serde_json::json!("one\ttwo"),
            &serde_json::json!("mit"),
            &serde_json::json!("mit")
        ),
        "{v}"
    );
}

#[cfg(unix)]
#[test]
fn symlinks_inside_are_followed_and_links_out_are_refused_by_name() {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), &[]);
    let d = tmp.path().join("links");
    std::fs::create_dir_all(d.join("raw")).unwrap();
    std::fs::write(d.join("dataset.yaml"), "name: links\nversion: 1.0.0\n").unwrap();
    std::fs::write(d.join("train.csv"), "x\n1\n2\n").unwrap();
    std::fs::write(d.join("raw/eval.csv"), "x\n3\n").unwrap();
    std::fs::write(d.join("notes.txt"), "hi").unwrap();
    symlink("train.csv", d.join("test.csv")).unwrap();
    symlink("raw", d.join("more")).unwrap();
    let out = run(tmp.path(), &["dataset", "inspect", d.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    let files: Vec<(String, u64)> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["row_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("more/eval.csv", 1),
            ("raw/eval.csv", 1),
            ("test.csv", 2),
            ("train.csv", 2)
        ]
        .map(|(p, n)| (p.to_string(), n))
        .to_vec()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("note: not published: notes.txt (not a data file)"),
        "{stderr}"
    );

    ok(&run(
        tmp.path(),
        &["login", "--server", &s.url, "--api-key", &s.admin_key()],
    ));
    ok(&run(tmp.path(), &["dataset", "push", d.to_str().unwrap()]));
    let info: serde_json::Value =
        serde_json::from_str(&ok(&run(tmp.path(), &["dataset", "info", "links@1.0.0", "--json"]))).unwrap();
    let paths: Vec<&str> = info["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["more/eval.csv", "raw/eval.csv", "test.csv", "train.csv"],
        "{info}"
    );

    // A link that leaves the directory is refused, naming the link (the Hugging Face cache
    // keeps every data file as a link into a blobs directory beside the snapshot).
    let hf = tmp.path().join("hf");
    std::fs::create_dir_all(hf.join("blobs")).unwrap();
    std::fs::create_dir_all(hf.join("snapshot/data")).unwrap();
    std::fs::write(hf.join("blobs/0a1b"), "x\n1\n").unwrap();
    std::fs::write(hf.join("snapshot/dataset.yaml"), "name: hf\n").unwrap();
    symlink("../../blobs/0a1b", hf.join("snapshot/data/train.csv")).unwrap();
    for cmd in ["inspect", "push"] {
        let err = fails(&run(
            tmp.path(),
            &["dataset", cmd, hf.join("snapshot").to_str().unwrap()],
        ));
        assert!(
            err.starts_with("error: data/train.csv is a symbolic link to ") && err.contains("blobs/0a1b, outside "),
            "{cmd}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    std::fs::remove_file(hf.join("blobs/0a1b")).unwrap();
    let err = fails(&run(
        tmp.path(),
        &["dataset", "inspect", hf.join("snapshot").to_str().unwrap()],
    ));
    assert!(
        err.starts_with("error: data/train.csv is a symbolic link to ../../blobs/0a1b, which does not exist"),
        "{err}"
    );
}

#[test]
fn connection_mistakes_get_one_line_that_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), &[]);
    let root = tmp.path();
    let key = s.admin_key();
    // the form `dn` takes: a trailing /api/v1
    let with_api = format!("{}/api/v1", s.url);
    ok(&run(root, &["login", "--server", &with_api, "--api-key", &key]));
    let listed = ok(&run(root, &["dataset", "list", "--json"]));
    assert!(listed.contains("\"datasets\""), "{listed}");
    // no scheme
    let bare = s.url.strip_prefix("http://").unwrap();
    let err = fails(&run(root, &["dataset", "list", "--server", bare]));
    assert_eq!(
        err,
        format!("error: invalid server URL \"{bare}\": it needs a scheme, such as http://{bare}")
    );
    // TLS against a plain HTTP server
    let tls = s.url.replace("http://", "https://");
    let err = fails(&run(root, &["dataset", "list", "--server", &tls]));
    assert!(
        err.contains(&format!("the server answered in plain HTTP, not TLS; use {}", s.url)),
        "{err}"
    );
    // a wrong key names where it came from
    let err = fails(&run(root, &["dataset", "list", "--api-key", "gra_wrong"]));
    assert!(
        err.contains("(HTTP 401): the registry at")
            && err.contains("refused the API key from --api-key; check it, or run `granary login --server"),
        "{err}"
    );
    let mut cmd = std::process::Command::new(BIN);
    clean(&mut cmd)
        .current_dir(root)
        .env("GRANARY_CONFIG_DIR", root.join("cfg"))
        .env("GRANARY_API_KEY", "gra_wrong")
        .args(["dataset", "list"]);
    let err = fails(&cmd.output().unwrap());
    assert!(err.contains("refused the API key from GRANARY_API_KEY"), "{err}");
    // an empty --api-key (`--api-key "$UNSET"`) is a mistake, never another key's stand-in
    let err = fails(&run(root, &["dataset", "list", "--api-key", ""]));
    assert!(err.starts_with("error: --api-key is empty: "), "{err}");
    // a blank GRANARY_API_KEY counts as unset
    std::fs::remove_file(root.join("cfg/config.toml")).unwrap();
    let mut cmd = Command::new(BIN);
    clean(&mut cmd)
        .current_dir(root)
        .env("GRANARY_CONFIG_DIR", root.join("cfg"))
        .env("GRANARY_API_KEY", "  ")
        .args(["dataset", "list", "--server", &s.url]);
    let err = fails(&cmd.output().unwrap());
    assert!(
        err.starts_with("error: no API key: run `granary login --api-key KEY`"),
        "{err}"
    );
}

#[test]
fn inspect_shows_every_published_field_and_warns_on_unknown_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("fields");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("a.csv"), "x\n1\n").unwrap();
    std::fs::write(
        d.join("dataset.yaml"),
        "name: fields\nversion: 1.0.0\nlicense: mit\nlicence: mit\ntags: [aviation, Weather]\ntask_categories: [tabular-regression]\nfrobnicate: 1\n",
    )
    .unwrap();
    let out = run(tmp.path(), &["dataset", "inspect", d.to_str().unwrap()]);
    let shown = ok(&out);
    for line in [
        "license:   mit",
        "tags:      aviation, Weather",
        "tasks:     tabular-regression",
    ] {
        assert!(shown.contains(line), "{line}: {shown}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .contains("warning: dataset.yaml line 4: unknown key `licence` is not published; did you mean `license`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "warning: dataset.yaml line 7: unknown key `frobnicate` is not published; known keys: name, version"
        ),
        "{stderr}"
    );
}

/// A parquet file of about `mib` MiB that does not compress (one binary column).
fn big_parquet(path: &Path, mib: usize) {
    use arrow_array::{ArrayRef, BinaryArray, RecordBatch};
    let row: Vec<u8> = (0..65536u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let f = std::fs::File::create(path).unwrap();
    let mut w: Option<parquet::arrow::ArrowWriter<std::fs::File>> = None;
    let mut f = Some(f);
    for chunk in 0..mib / 4 {
        let rows: Vec<Vec<u8>> = (0..64)
            .map(|i| {
                let mut r = row.clone();
                r[0] = i as u8;
                r[1] = chunk as u8;
                r
            })
            .collect();
        let col: ArrayRef = std::sync::Arc::new(BinaryArray::from_iter_values(rows.iter()));
        let batch = RecordBatch::try_from_iter([("blob", col)]).unwrap();
        let writer = w.get_or_insert_with(|| {
            parquet::arrow::ArrowWriter::try_new(f.take().unwrap(), batch.schema(), None).unwrap()
        });
        writer.write(&batch).unwrap();
    }
    w.unwrap().close().unwrap();
}

/// Every file under `dir`, at any depth.
fn stored_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| if e.path().is_dir() { stored_files(&e.path()) } else { 1 })
                .sum()
        })
        .unwrap_or(0)
}

/// Bytes the registry holds in upload sessions (`blobs/uploads/*/part-*`, one per window).
fn session_bytes(data: &Path) -> u64 {
    let Ok(sessions) = std::fs::read_dir(data.join("blobs/uploads")) else {
        return 0;
    };
    sessions
        .flatten()
        .filter_map(|s| std::fs::read_dir(s.path()).ok())
        .flatten()
        .flatten()
        .filter(|p| {
            // committed windows only, not a staging file (`part-…#N`) a write left behind
            let name = p.file_name().to_string_lossy().to_string();
            name.starts_with("part-") && !name.contains('#')
        })
        .filter_map(|p| p.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn push_checks_the_version_first_and_resumes_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = start(root, &[]);
    let listen = s.url.strip_prefix("http://").unwrap().to_string();
    ok(&run(root, &["login", "--server", &s.url, "--api-key", &s.admin_key()]));
    let d = root.join("big");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("dataset.yaml"), "name: big\nversion: 1.0.0\nlicense: mit\n").unwrap();
    big_parquet(&d.join("train.parquet"), 80);
    let size = std::fs::metadata(d.join("train.parquet")).unwrap().len();

    // The server dies mid-upload: the push fails, its session is remembered.
    let mut push = Command::new(BIN);
    clean(&mut push)
        .current_dir(root)
        .env("GRANARY_CONFIG_DIR", root.join("cfg"))
        .env("GRANARY_CACHE_DIR", root.join("cache"))
        .args(["dataset", "push", d.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = push.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while session_bytes(&s.data) == 0 {
        assert!(std::time::Instant::now() < deadline, "no upload session appeared");
        std::thread::yield_now();
    }
    drop(s); // kill -9
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let held = session_bytes(&root.join("data"));
    assert!(held > 0 && held < size, "{held} of {size}");

    // Restarted on the same address, the next push sends only the rest.
    let s = start_on(root, &listen, &[]);
    let out = run(root, &["dataset", "push", d.to_str().unwrap()]);
    let stdout = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("resuming the upload at"), "{stderr}");
    assert!(stdout.starts_with("Pushed default/big@1.0.0 (sha256:"), "{stdout}");
    // what this run sent is the rest, not the whole file
    let whole = stderr
        .lines()
        .find_map(|l| l.split_once("resuming the upload at ").map(|(_, r)| r.to_string()))
        .and_then(|r| r.split_once(" of ").map(|(_, w)| w.to_string()))
        .unwrap();
    assert!(!stderr.contains(&format!("({whole} sent)")), "{stderr}");
    let pulled = root.join("pulled");
    ok(&run(
        root,
        &["dataset", "pull", "big@1.0.0", "-o", pulled.to_str().unwrap()],
    ));
    assert!(
        std::fs::read(pulled.join("train.parquet")).unwrap() == std::fs::read(d.join("train.parquet")).unwrap(),
        "the resumed upload holds the file's bytes"
    );

    // The pulled directory can be pushed again: pull writes its dataset.yaml.
    let yaml = std::fs::read_to_string(pulled.join("dataset.yaml")).unwrap();
    assert!(
        yaml.ends_with("name: big\nversion: 1.0.0\nlicense: mit\nfiles:\n- train.parquet\n"),
        "{yaml}"
    );
    std::fs::write(
        pulled.join("dataset.yaml"),
        yaml.replace("version: 1.0.0", "version: 2.0.0"),
    )
    .unwrap();
    let pushed = ok(&run(root, &["dataset", "push", pulled.to_str().unwrap()]));
    assert!(pushed.starts_with("Pushed default/big@2.0.0 (sha256:"), "{pushed}");

    // A pull cut off by a server restart goes on under the same download.
    let downloads = |root: &Path| -> u64 {
        let a: serde_json::Value = serde_json::from_str(&ok(&run(root, &["dataset", "activity", "--json"]))).unwrap();
        a["total"].as_u64().unwrap()
    };
    let before = downloads(root);
    let cut = root.join("cut");
    let mut pull = Command::new(BIN);
    clean(&mut pull)
        .current_dir(root)
        .env("GRANARY_CONFIG_DIR", root.join("cfg"))
        .env("GRANARY_CACHE_DIR", root.join("cache"))
        .args(["dataset", "pull", "big@1.0.0", "-o", cut.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = pull.spawn().unwrap();
    while !cut.join("train.parquet.part").exists() {
        std::thread::yield_now();
    }
    drop(s);
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        assert!(
            cut.join(".granary-pull.json").is_file(),
            "the links are kept until the pull completes"
        );
        // the bytes that arrived are kept, and the error says how to go on
        let err = fails_after_progress(&out);
        assert!(
            err.contains("downloaded and kept; run the same pull again to resume"),
            "{err}"
        );
        assert!(cut.join("train.parquet.part").is_file(), "{err}");
        let s2 = start_on(root, &listen, &[]);
        let again = run(root, &["dataset", "pull", "big@1.0.0", "-o", cut.to_str().unwrap()]);
        ok(&again);
        let stderr = String::from_utf8_lossy(&again.stderr);
        assert!(stderr.contains("resuming the pull begun earlier"), "{stderr}");
        assert!(!cut.join(".granary-pull.json").exists());
        assert_eq!(downloads(root), before + 1, "one download, resumed");
        drop(s2);
    }
    let s = start_on(root, &listen, &[]);
    assert_eq!(
        std::fs::read(cut.join("train.parquet")).unwrap(),
        std::fs::read(d.join("train.parquet")).unwrap()
    );

    // The same directory again: nothing to do, nothing sent.
    let again = run(root, &["dataset", "push", d.to_str().unwrap()]);
    assert!(ok(&again).starts_with("Already published default/big@1.0.0 (sha256:"));
    // Other content under the same version: refused before any byte moves.
    std::fs::write(
        d.join("dataset.yaml"),
        "name: big\nversion: 1.0.0\nlicense: apache-2.0\n",
    )
    .unwrap();
    big_parquet(&d.join("more.parquet"), 4);
    let before = stored_files(&s.data.join("blobs"));
    let err = fails_after_progress(&run(root, &["dataset", "push", d.to_str().unwrap()]));
    assert_eq!(
        err,
        "error: default/big@1.0.0 is already published with different files (more.parquet), license; versions are immutable: set a new version (`version:` in dataset.yaml or --version), or delete this one first (granary dataset delete default/big@1.0.0)"
    );
    assert_eq!(stored_files(&s.data.join("blobs")), before, "nothing was uploaded");
}

#[test]
fn profiles_whoami_logout_and_completions() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), &[]);
    let root = tmp.path();
    let key = s.admin_key();
    // not logged in: whoami says how to log in; a named profile that does not exist says so
    let err = fails(&run(root, &["whoami"]));
    assert_eq!(
        err,
        "error: not logged in: run `granary login --api-key KEY` or set GRANARY_API_KEY"
    );
    let err = fails(&run(root, &["whoami", "--profile", "staging"]));
    assert!(err.starts_with("error: no profile \"staging\" in "), "{err}");
    assert!(
        err.contains("run `granary login --profile staging --server URL --api-key KEY`"),
        "{err}"
    );

    let out = ok(&run(
        root,
        &["login", "--profile", "staging", "--server", &s.url, "--api-key", &key],
    ));
    assert!(out.contains("saved as profile staging to "), "{out}");
    let who: serde_json::Value =
        serde_json::from_str(&ok(&run(root, &["whoami", "--profile", "staging", "--json"]))).unwrap();
    assert_eq!(who["username"], "admin");
    assert_eq!(who["server"], s.url.as_str());
    assert_eq!(who["organization"], "default");
    assert_eq!(who["organizations"], serde_json::json!(["default"]));
    assert_eq!(who["profile"], "staging");
    assert!(
        who["key_source"]
            .as_str()
            .unwrap()
            .starts_with("the profile staging in "),
        "{who}"
    );
    // GRANARY_PROFILE picks the profile too; the default profile is still empty
    let mut cmd = Command::new(BIN);
    clean(&mut cmd)
        .current_dir(root)
        .env("GRANARY_CONFIG_DIR", root.join("cfg"))
        .env("GRANARY_PROFILE", "staging")
        .arg("whoami");
    let human = ok(&cmd.output().unwrap());
    assert_eq!(human.lines().next(), Some("admin"));
    assert!(human.contains(&format!("server:        {}", s.url)), "{human}");
    fails(&run(root, &["whoami"]));
    // the listing names the saved profiles when another is asked for
    let err = fails(&run(root, &["whoami", "--profile", "prod"]));
    assert!(err.ends_with("(saved profiles: staging)"), "{err}");
    // a refused key names the profile it came from
    let cfg = std::fs::read_to_string(root.join("cfg/config.toml")).unwrap();
    assert!(cfg.contains("[profiles.staging]"), "{cfg}");
    std::fs::write(root.join("cfg/config.toml"), cfg.replace(&key, "gra_wrong")).unwrap();
    let err = fails(&run(root, &["whoami", "--profile", "staging"]));
    assert!(
        err.contains("refused the API key from the profile staging in "),
        "{err}"
    );

    let out = ok(&run(root, &["logout", "--profile", "staging"]));
    assert!(out.starts_with("Logged out: removed profile staging from "), "{out}");
    assert_eq!(
        ok(&run(root, &["logout", "--profile", "staging"])).trim(),
        "Not logged in (no saved profile staging)"
    );
    fails(&run(root, &["whoami", "--profile", "staging"]));
    // the default profile: login, whoami, logout
    ok(&run(root, &["login", "--server", &s.url, "--api-key", &key]));
    assert_eq!(ok(&run(root, &["whoami"])).lines().next(), Some("admin"));
    ok(&run(root, &["logout"]));
    fails(&run(root, &["whoami"]));

    // completion scripts for the common shells
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&run(root, &["completions", shell]));
        assert!(script.contains("granary") && script.contains("pull"), "{shell}");
    }
    let err = String::from_utf8(run(root, &["completions", "tcsh"]).stderr).unwrap();
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
    // a reader that goes away, or output that cannot be written: no panic
    let mut cmd = Command::new(BIN);
    clean(&mut cmd).current_dir(root).args(["completions", "zsh"]);
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    if Path::new("/dev/full").exists() {
        let mut cmd = Command::new(BIN);
        clean(&mut cmd)
            .current_dir(root)
            .args(["completions", "bash"])
            .stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap());
        let err = fails(&cmd.output().unwrap());
        assert!(err.starts_with("error: cannot write to stdout: "), "{err}");
        let mut cmd = Command::new(BIN);
        clean(&mut cmd)
            .current_dir(root)
            .env("GRANARY_CONFIG_DIR", root.join("cfg"))
            .args(["whoami", "--server", &s.url, "--api-key", &key])
            .stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap());
        let err = fails(&cmd.output().unwrap());
        assert!(err.starts_with("error: cannot write to stdout: "), "{err}");
    }
    // empty keys and profile names are mistakes, not silent fallbacks
    assert_eq!(
        fails(&run(root, &["whoami", "--api-key", ""])),
        "error: --api-key is empty: pass the key, or leave the flag out to use GRANARY_API_KEY or the profile"
    );
    assert_eq!(
        fails(&run(root, &["whoami", "--profile", ""])),
        "error: --profile is empty: name a profile, or leave the flag out for the default one"
    );
    let err = fails(&run(root, &["whoami", "--profile", "my x"]));
    assert!(
        err.contains("run `granary login --profile 'my x' --server URL"),
        "{err}"
    );
    // a broken profile file says how to recover
    std::fs::write(root.join("cfg/config.toml"), "[profiles\n").unwrap();
    let err = fails(&run(root, &["whoami"]));
    assert!(
        err.ends_with(": correct it, or delete it and run `granary login` again"),
        "{err}"
    );
}

#[test]
fn push_and_pull_options_and_aliases() {
    let tmp = tempfile::tempdir().unwrap();
    let s = start(tmp.path(), &[]);
    let root = tmp.path();
    ok(&run(root, &["login", "--server", &s.url, "--api-key", &s.admin_key()]));
    let dir = dataset_dir(root, "qa", "1.0.0");
    let d = dir.to_str().unwrap();

    // a dry run hashes, asks, says what it would send, and sends nothing
    let dry: serde_json::Value =
        serde_json::from_str(&ok(&run(root, &["dataset", "push", d, "--dry-run", "--json"]))).unwrap();
    assert_eq!(
        (&dry["uploaded"], &dry["skipped"], &dry["dry_run"], &dry["version"]),
        (
            &serde_json::json!(2),
            &serde_json::json!(0),
            &serde_json::json!(true),
            &serde_json::json!("1.0.0")
        )
    );
    let train = std::fs::metadata(dir.join("data/train.parquet")).unwrap().len();
    let test = std::fs::metadata(dir.join("data/test.parquet")).unwrap().len();
    assert_eq!(dry["uploaded_bytes"], train + test);
    assert_eq!(stored_files(&s.data.join("blobs")), 0, "a dry run stores nothing");
    let err = fails(&run(root, &["dataset", "info", "qa@1.0.0"]));
    assert!(err.contains("(HTTP 404)"), "{err}");

    // --name, --version, --publish; a line per phase and file when stderr is not a terminal
    let out = run(
        root,
        &[
            "dataset",
            "push",
            d,
            "--name",
            "qa-copy",
            "--version",
            "2.0.0",
            "--publish",
            "--json",
        ],
    );
    let pushed: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(
        (
            &pushed["name"],
            &pushed["version"],
            &pushed["uploaded"],
            &pushed["already_published"]
        ),
        (
            &serde_json::json!("qa-copy"),
            &serde_json::json!("2.0.0"),
            &serde_json::json!(2),
            &serde_json::json!(false)
        )
    );
    let err = String::from_utf8(out.stderr).unwrap();
    for line in [
        "uploading 2 file(s) (",
        "publishing default/qa-copy@2.0.0: the registry verifies the manifest",
        "making default/qa-copy public",
    ] {
        assert!(!err.lines().any(|l| l.starts_with(line)), "{line:?} in {err}");
    }
    // work under a MiB gets no lines outside a terminal (it takes no noticeable time);
    // files of a MiB and more get a line as they start and end, with the bytes and rate
    assert!(!err.contains("uploading data/train.parquet"), "{err}");
    let big = root.join("big");
    std::fs::create_dir_all(&big).unwrap();
    big_parquet(&big.join("blob.parquet"), 4);
    std::fs::write(big.join("dataset.yaml"), "name: big\nversion: 1.0.0\n").unwrap();
    let out = run(root, &["dataset", "push", big.to_str().unwrap(), "--quiet"]);
    ok(&out);
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], "uploading 1 file(s) (4.0 MiB) to default/big@1.0.0", "{err}");
    assert_eq!(lines[1], "uploading blob.parquet (4.0 MiB)", "{err}");
    assert!(lines[2].starts_with("uploaded blob.parquet: 4.0 MiB in "), "{err}");
    assert_eq!(
        lines[3], "publishing default/big@1.0.0: the registry verifies the manifest",
        "{err}"
    );
    let out = run(root, &["dataset", "inspect", big.to_str().unwrap()]);
    ok(&out);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.lines().any(|l| l.starts_with("read blob.parquet: 4.0 MiB in ")),
        "{err}"
    );
    let out = run(
        root,
        &["dataset", "pull", "big", "-o", root.join("big-out").to_str().unwrap()],
    );
    ok(&out);
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.lines()
            .any(|l| l.starts_with("downloaded blob.parquet: 4.0 MiB in ")),
        "{err}"
    );
    let info: serde_json::Value =
        serde_json::from_str(&ok(&run(root, &["dataset", "info", "qa-copy@2.0.0", "--json"]))).unwrap();
    assert_eq!(
        (&info["is_public"], &info["row_count"]),
        (&serde_json::json!(true), &serde_json::json!(1234))
    );
    assert_eq!(info["manifest_digest"], pushed["manifest_digest"]);
    // `upload` is `push`; a bad --version is refused before anything is read
    let err = fails(&run(root, &["dataset", "upload", d, "--version", "2.0"]));
    assert!(err.starts_with("error: --version 2.0: "), "{err}");
    ok(&run(
        root,
        &["dataset", "upload", d, "--name", "qa-copy", "--version", "2.0.1", "-q"],
    ));

    // pull --include: only matching files, and a dataset.yaml that lists only them
    let out = root.join("only-test");
    let pulled = run(
        root,
        &[
            "dataset",
            "download",
            "qa-copy@2.0.0",
            "--include",
            "*test*",
            "-o",
            out.to_str().unwrap(),
        ],
    );
    ok(&pulled);
    assert!(out.join("data/test.parquet").is_file());
    assert!(!out.join("data/train.parquet").exists());
    assert_eq!(
        std::fs::read(out.join("data/test.parquet")).unwrap(),
        std::fs::read(dir.join("data/test.parquet")).unwrap()
    );
    let yaml = std::fs::read_to_string(out.join("dataset.yaml")).unwrap();
    assert!(
        yaml.contains("test: data/test.parquet") && !yaml.contains("train"),
        "{yaml}"
    );
    let err = fails(&run(
        root,
        &["dataset", "pull", "qa-copy", "--include", "*.csv", "-o", "x"],
    ));
    assert_eq!(
        err,
        "error: no file of default/qa-copy@2.0.1 matches the --split/--include given"
    );
    let err = fails(&run(
        root,
        &["dataset", "pull", "qa-copy", "--include", "a[", "-o", "x"],
    ));
    assert!(err.starts_with("error: --include a[: "), "{err}");

    // pull --urls: a signed link per file, nothing written
    let links = ok(&run(root, &["dataset", "pull", "qa-copy@2.0.0", "--urls"]));
    let mut paths: Vec<&str> = links.lines().map(|l| l.split('\t').next().unwrap()).collect();
    paths.sort();
    assert_eq!(paths, ["data/test.parquet", "data/train.parquet"], "{links}");
    assert!(
        links.lines().all(|l| l.split('\t').nth(1).unwrap().starts_with(&s.url)),
        "{links}"
    );
    let as_json: serde_json::Value = serde_json::from_str(&ok(&run(
        root,
        &[
            "dataset",
            "pull",
            "qa-copy@2.0.0",
            "--urls",
            "--json",
            "--include",
            "*train*",
        ],
    )))
    .unwrap();
    assert_eq!(as_json["files"].as_array().unwrap().len(), 1);
    assert_eq!(as_json["files"][0]["size"], train);
    assert!(as_json["expires_at"].as_str().unwrap().ends_with('Z'), "{as_json}");
    assert!(!root.join("qa-copy").exists());

    // a dry run checks the organization too; "not found" says where to look
    let err = fails(&run(
        root,
        &["dataset", "push", d, "--name", "nosuchorg/x", "--dry-run"],
    ));
    assert_eq!(
        err,
        "error: organization \"nosuchorg\" not found, or you are not a member of it: `granary whoami` lists yours"
    );
    let err = fails(&run(root, &["dataset", "info", "nope"]));
    assert_eq!(
        err,
        "error: dataset default/nope not found: `granary dataset list` shows the datasets there are (HTTP 404)"
    );
    let err = fails(&run(root, &["dataset", "info", "qa-copy@9.9.9"]));
    assert!(
        err.ends_with(": `granary dataset info NAME` lists its versions (HTTP 404)"),
        "{err}"
    );
    let err = fails(&run(root, &["dataset", "activity", "--limit", "1000"]));
    assert!(err.starts_with("error: --limit: "), "{err}");

    // `rm` is `delete`
    ok(&run(root, &["dataset", "rm", "qa-copy@2.0.1", "--yes"]));
    let err = fails(&run(root, &["dataset", "info", "qa-copy@2.0.1"]));
    assert!(err.contains("(HTTP 404)"), "{err}");
}

#[test]
fn dataset_cards_come_from_readme_or_description_and_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = start(root, &[]);
    ok(&run(root, &["login", "--server", &s.url, "--api-key", &s.admin_key()]));
    let dir = root.join("carded");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.csv"), "x\n1\n").unwrap();
    std::fs::write(dir.join("dataset.yaml"), "name: carded\nversion: 1.0.0\n").unwrap();
    let card = "# Carded\n\nScores of a small\nexperiment.\n\n## Use\n\n- one\n";
    std::fs::write(dir.join("README.md"), card).unwrap();
    let pushed = run(root, &["dataset", "push", dir.to_str().unwrap()]);
    ok(&pushed);
    // README.md is the card, not a skipped file.
    assert!(!String::from_utf8_lossy(&pushed.stderr).contains("README.md"));
    let info: serde_json::Value =
        serde_json::from_str(&ok(&run(root, &["dataset", "info", "carded", "--json"]))).unwrap();
    assert_eq!(info["description"], card);
    // Without `summary:`, the card's first paragraph is the summary.
    assert_eq!(info["summary"], "Scores of a small experiment.");
    let human = ok(&run(root, &["dataset", "info", "carded"]));
    assert!(
        human.ends_with("card:\n  # Carded\n  \n  Scores of a small\n  experiment.\n  \n  ## Use\n  \n  - one\n"),
        "{human}"
    );
    // pull writes it back as README.md, and the pulled directory pushes the same card.
    let out = root.join("out");
    ok(&run(root, &["dataset", "pull", "carded", "-o", out.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(out.join("README.md")).unwrap(), card);
    // `description:` wins over README.md.
    std::fs::write(
        dir.join("dataset.yaml"),
        "name: carded\nversion: 1.0.1\nsummary: Short.\ndescription: |\n  Inline *card*.\n",
    )
    .unwrap();
    ok(&run(root, &["dataset", "push", dir.to_str().unwrap()]));
    let info: serde_json::Value =
        serde_json::from_str(&ok(&run(root, &["dataset", "info", "carded@1.0.1", "--json"]))).unwrap();
    assert_eq!(info["description"], "Inline *card*.\n");
    assert_eq!(info["summary"], "Short.");
}

#[test]
fn diff_shows_what_changed_between_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = start(root, &[]);
    ok(&run(root, &["login", "--server", &s.url, "--api-key", &s.admin_key()]));
    let dir = root.join("ds");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("data.csv"), "a,b\n1,x\n2,y\n").unwrap();
    std::fs::write(dir.join("dataset.yaml"), "name: ds\nversion: 1.0.0\nlicense: mit\n").unwrap();
    ok(&run(root, &["dataset", "push", dir.to_str().unwrap()]));
    std::fs::write(dir.join("data.csv"), "a,c\n1.5,true\n2,false\n3,true\n").unwrap();
    std::fs::write(dir.join("dataset.yaml"), "name: ds\nversion: 1.1.0\nlicense: mit\n").unwrap();
    ok(&run(root, &["dataset", "push", dir.to_str().unwrap()]));
    let human = ok(&run(root, &["dataset", "diff", "ds@1.0.0", "ds@1.1.0"]));
    assert_eq!(
        human,
        "default/ds 1.0.0 → 1.1.0\n\
         rows:             2 → 3 (+1)\n\
         size:             12 B → 28 B (+16 B)\n\
         columns added:    c (bool)\n\
         columns removed:  b (string)\n\
         columns retyped:  a: int64 → double\n\
         files added:      -\n\
         files removed:    -\n\
         files changed:    data.csv\n\
         fields changed:   -\n"
    );
    // The same by default (latest against the one before), by a bare version, and as JSON.
    assert_eq!(ok(&run(root, &["dataset", "diff", "ds"])), human);
    assert_eq!(ok(&run(root, &["dataset", "diff", "default/ds@1.0.0", "1.1.0"])), human);
    let j: serde_json::Value =
        serde_json::from_str(&ok(&run(root, &["dataset", "diff", "ds@1.0.0", "ds@1.1.0", "--json"]))).unwrap();
    assert_eq!(j["row_count"]["delta"], 1);
    let err = fails(&run(root, &["dataset", "diff", "ds@1.0.0", "other@1.1.0"]));
    assert_eq!(
        err.trim_end(),
        "error: a diff compares two versions of one dataset: ds@1.0.0 and other@1.1.0 name different datasets"
    );
}

#[test]
fn a_viewer_job_killed_mid_way_is_reclaimed_and_completes_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = start(root, &["--no-viewer-jobs"]);
    ok(&run(root, &["login", "--server", &s.url, "--api-key", &s.admin_key()]));
    let dir = root.join("wide");
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from("id,label,value\n");
    for i in 0..400_000 {
        csv.push_str(&format!("{i},label number {i},{}.5\n", i % 977));
    }
    std::fs::write(dir.join("rows.csv"), csv).unwrap();
    std::fs::write(dir.join("dataset.yaml"), "name: wide\nversion: 1.0.0\n").unwrap();
    ok(&run(root, &["dataset", "push", dir.to_str().unwrap()]));
    let data = s.data.to_str().unwrap().to_string();
    let state = || -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&ok(&run(root, &["dataset", "info", "wide", "--json"]))).unwrap()
            ["viewer"]
            .clone()
    };
    assert_eq!(state()["state"], "pending");

    // A worker starts the job and is killed (SIGKILL) while it runs.
    let mut worker = Command::new(BIN);
    clean(&mut worker)
        .current_dir(root)
        .args(["admin", "viewer-run", "--data-dir", &data])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = worker.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = state()["state"].clone();
    while seen == "pending" && std::time::Instant::now() < deadline {
        seen = state()["state"].clone();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let after_kill = state();
    eprintln!("after the kill: {after_kill}");
    if after_kill["state"] == "running" {
        // Its claim holds: a plain run leaves the job alone, saying who holds it ...
        let out = ok(&run(root, &["admin", "viewer-run", "--data-dir", &data]));
        let lines: Vec<&str> = out.trim().lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(lines[0], "ran 0 viewer job(s)");
        assert!(
            lines[1].starts_with("held: default/wide@1.0.0 by another server until ")
                && lines[1].ends_with("Z; if that server died, run `granary admin viewer-run --reclaim`"),
            "{out}"
        );
        // ... the scratch directory of the killed worker goes with the next run ...
        let pid = child.id();
        let leftovers = std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("granary-viewer-{pid}-"))
            })
            .count();
        assert_eq!(leftovers, 0, "the killed worker's scratch was swept");
        // ... and an operator who knows the worker died takes it over.
        assert_eq!(
            ok(&run(root, &["admin", "viewer-run", "--reclaim", "--data-dir", &data])).trim(),
            "ran 1 viewer job(s)"
        );
    } else {
        // The worker finished before the kill landed.
        assert_eq!(after_kill["state"], "ready", "{after_kill}");
    }
    let done = state();
    assert_eq!(done["state"], "ready");
    assert_eq!(done["renditions"].as_array().unwrap().len(), 1, "one rendition: {done}");
    assert_eq!(done["renditions"][0]["row_count"], 400_000);
    // Nothing is left to do, and nothing is done twice.
    assert_eq!(
        ok(&run(root, &["admin", "viewer-run", "--reclaim", "--data-dir", &data])).trim(),
        "ran 0 viewer job(s)"
    );
    let rows: serde_json::Value =
        serde_json::from_str(&ok(&run(root, &["dataset", "info", "wide", "--json"]))).unwrap();
    assert_eq!(rows["viewer"], done);
}
