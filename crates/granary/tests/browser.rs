//! End to end in a real browser: headless Chromium, driven over WebDriver by chromedriver,
//! against the real binary on a loopback port. Signs in, searches, filters by a facet,
//! opens a dataset, sees its schema and preview, downloads a file and finds that download
//! on the activity page; and does the same with JavaScript turned off.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`; override with `GRANARY_TEST_CHROMIUM` and
//! `GRANARY_TEST_CHROMEDRIVER`). Without them the test is skipped with a printed reason;
//! `.ci/run` installs both.

mod common;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool(env: &str, default: &str) -> Option<PathBuf> {
    let p = PathBuf::from(
        std::env::var(env)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or(default.into()),
    );
    p.exists().then_some(p)
}

/// Starts chromedriver on a free port; returns once it says it listens.
fn start_driver(bin: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("chromedriver exited before listening").unwrap();
        if line.contains("started successfully") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn browser(driver: &Driver, chromium: &Path, profile: &Path, javascript: bool) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
                "--window-size=1280,1000", format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": profile.join("downloads"),
                "download.prompt_for_download": false,
                "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 },
            },
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

/// A second dataset with another license and tag, so a facet has something to filter.
fn notes_dir(root: &Path) -> PathBuf {
    let d = root.join("notes");
    std::fs::create_dir_all(d.join("data")).unwrap();
    parquet_file(&d.join("data/train.parquet"), 12);
    std::fs::write(
        d.join("dataset.yaml"),
        "name: notes\nversion: 0.3.0\nsummary: Short notes\nlicense: mit\ntags: [text]\n",
    )
    .unwrap();
    d
}

/// With `GRANARY_TEST_SCREENSHOTS=DIR`, saves the current page as `DIR/{name}.png`.
async fn shot(c: &Client, name: &str) {
    if let Ok(dir) = std::env::var("GRANARY_TEST_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

/// Waits for the element, then clicks it.
async fn click(c: &Client, at: Locator<'_>) {
    c.wait().for_element(at).await.unwrap().click().await.unwrap();
}

/// Waits (up to 10 s) until the browser's URL contains `needle`: a form submission has
/// navigated.
async fn wait_url(c: &Client, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let url = c.current_url().await.unwrap();
        if url.as_str().contains(needle) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the browser stayed at {url}, not at …{needle}…"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn wait_for(c: &Client, at: Locator<'_>) -> fantoccini::elements::Element {
    c.wait().for_element(at).await.unwrap()
}

async fn text(c: &Client, css: &str) -> String {
    match c.wait().for_element(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap(),
        Err(e) => {
            let page = c.source().await.unwrap_or_default();
            panic!("no {css} on {}: {e}\n{page}", c.current_url().await.unwrap())
        }
    }
}

/// A running server with two pushed datasets, chromedriver and a signed-in browser.
struct Session {
    c: Client,
    base: String,
    root: PathBuf,
    _driver: Driver,
    _server: Server,
    _tmp: tempfile::TempDir,
}

/// Everything a browser test needs, or None (with the reason printed) without Chromium.
async fn session(javascript: bool) -> Option<Session> {
    let (Some(chromium), Some(chromedriver)) = (
        tool("GRANARY_TEST_CHROMIUM", "/usr/bin/chromium"),
        tool("GRANARY_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"),
    ) else {
        eprintln!("skipped: install Debian's chromium and chromium-driver (or set GRANARY_TEST_CHROMIUM and GRANARY_TEST_CHROMEDRIVER) to run the browser tests");
        return None;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    // The viewer's jobs run when a test says so (`granary admin viewer-run`), not on a timer.
    let s = start(&root, &["--no-viewer-jobs"]);
    let key = s.admin_key();
    ok(&run(&root, &["login", "--server", &s.url, "--api-key", &key]));
    let qa = dataset_dir(&root, "qa", "1.0.0");
    ok(&run(&root, &["dataset", "push", qa.to_str().unwrap()]));
    ok(&run(&root, &["dataset", "push", notes_dir(&root).to_str().unwrap()]));

    let driver = start_driver(&chromedriver);
    let c = browser(&driver, &chromium, &root.join("profile"), javascript).await;
    let base = s.url.clone();

    // Signing in: any page leads to the form, and back after it.
    c.goto(&format!("{base}/")).await.unwrap();
    let field = wait_for(&c, Locator::Css("#api_key")).await;
    shot(&c, "sign-in").await;
    assert!(c.current_url().await.unwrap().path().starts_with("/sign-in"));
    field.send_keys(&key).await.unwrap();
    click(&c, Locator::Css("form.signin button[type=submit]")).await;
    wait_for(&c, Locator::Css("section.results")).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/orgs/default");
    assert_eq!(c.find_all(Locator::Css("article.card")).await.unwrap().len(), 2);
    Some(Session {
        c,
        base,
        root,
        _driver: driver,
        _server: s,
        _tmp: tmp,
    })
}

/// Waits (up to 30 s) for the browser to save a download, and returns its bytes.
async fn saved(root: &Path, name: &str) -> Vec<u8> {
    let path = root.join("profile/downloads").join(name);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "the browser never saved {name}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    std::fs::read(&path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_search_filter_inspect_download_and_see_activity() {
    let Some(sess) = session(true).await else {
        return;
    };
    let (c, base, root) = (&sess.c, &sess.base, &sess.root);
    let qa = root.join("qa");
    shot(c, "catalog").await;

    // Keyboard: the first Tab lands on the skip link.
    c.active_element().await.unwrap().send_keys("\u{E004}").await.unwrap();
    let focused = c
        .execute("return document.activeElement.textContent", vec![])
        .await
        .unwrap();
    assert_eq!(focused, "Skip to content");

    // Search.
    let search = c.find(Locator::Css("#search")).await.unwrap();
    search.send_keys("questions\u{E007}").await.unwrap(); // Enter submits
                                                          // the new page echoes the query in the box
    wait_for(c, Locator::Css("input#search[value='questions']")).await;
    assert_eq!(
        c.current_url()
            .await
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "search")
            .unwrap()
            .1,
        "questions"
    );
    let cards = c.find_all(Locator::Css("article.card")).await.unwrap();
    assert_eq!(cards.len(), 1);
    assert!(cards[0].text().await.unwrap().contains("default/qa"));

    // Facet filter: clearing the search, then ticking a license (the script submits on change).
    c.goto(&format!("{base}/orgs/default")).await.unwrap();
    let mit = c
        .wait()
        .for_element(Locator::Css("input[name=license][value=mit]"))
        .await
        .unwrap();
    let label = c
        .find(Locator::XPath("//input[@name='license' and @value='mit']/.."))
        .await
        .unwrap();
    assert_eq!(label.text().await.unwrap(), "mit (1)");
    mit.click().await.unwrap();
    // Only the filtered page has this link (the click ticks the box on the old page at once).
    wait_for(c, Locator::LinkText("Clear all filters")).await;
    c.find(Locator::Css("input[name=license][value=mit]:checked"))
        .await
        .unwrap();
    assert!(c.current_url().await.unwrap().query().unwrap().contains("license=mit"));
    let cards = c.find_all(Locator::Css("article.card")).await.unwrap();
    assert_eq!(cards.len(), 1);
    assert!(cards[0].text().await.unwrap().contains("default/notes"));

    // Open the qa dataset from the catalog: schema and preview.
    c.goto(&format!("{base}/orgs/default?search=qa")).await.unwrap();
    click(c, Locator::LinkText("default/qa")).await;
    let schema = text(c, "table.schema").await;
    assert!(schema.contains("question") && schema.contains("string"), "{schema}");
    shot(c, "dataset").await;
    let preview = text(c, "table.preview").await;
    assert!(preview.contains("question 0"), "{preview}");
    assert_eq!(
        c.find_all(Locator::Css("table.preview tbody tr")).await.unwrap().len(),
        100
    );
    // another split
    click(c, Locator::Css("nav.splits a[href*='split=test']")).await;
    wait_for(c, Locator::Css("nav.splits a[aria-current][href*='split=test']")).await;
    assert_eq!(
        c.find_all(Locator::Css("table.preview tbody tr")).await.unwrap().len(),
        34
    );

    // Download the test file: a counted event.
    click(c, Locator::Css("button[aria-label='Download data/test.parquet']")).await;
    // The browser saves it; the saved bytes are the published bytes.
    assert_eq!(
        saved(root, "test.parquet").await,
        std::fs::read(qa.join("data/test.parquet")).unwrap()
    );

    // It shows on the activity page.
    c.goto(&format!("{base}/orgs/default/activity")).await.unwrap();
    let feed = text(c, "table.activity tbody").await;
    assert!(
        feed.contains("default/qa") && feed.contains("1.0.0") && feed.contains("test") && feed.contains("admin"),
        "{feed}"
    );
    assert_eq!(
        c.find_all(Locator::Css("table.activity tbody tr")).await.unwrap().len(),
        1
    );
    shot(c, "activity").await;

    // Phone width: nothing wider than the screen on the catalog and dataset pages.
    c.set_window_size(390, 844).await.unwrap();
    for page in ["/orgs/default", "/orgs/default/datasets/qa"] {
        c.goto(&format!("{base}{page}")).await.unwrap();
        wait_for(c, Locator::Css("main")).await;
        let fits = c
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fits, serde_json::json!(true), "{page} scrolls sideways at phone width");
    }
    shot(c, "dataset-phone").await;
    c.clone().close().await.unwrap();
}

/// Core browsing without JavaScript: filter with the Apply button, switch versions with
/// Show, download, and see the download in the activity feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_core_works_without_javascript() {
    let Some(sess) = session(false).await else {
        return;
    };
    let (c, base, root) = (&sess.c, &sess.base, &sess.root);
    // Page scripts are off in this browser: ticking a box changes nothing until Apply.
    click(c, Locator::Css("input[name=license][value=mit]")).await;
    assert!(
        c.find(Locator::LinkText("Clear all filters")).await.is_err(),
        "no submit without Apply"
    );
    click(c, Locator::Css("form.catalog button[type=submit]")).await;
    wait_for(c, Locator::LinkText("Clear all filters")).await;
    let cards = c.find_all(Locator::Css("article.card")).await.unwrap();
    assert_eq!(cards.len(), 1);
    assert!(cards[0].text().await.unwrap().contains("default/notes"));

    click(c, Locator::LinkText("default/notes")).await;
    let preview = text(c, "table.preview").await;
    assert!(preview.contains("question 11"), "{preview}");
    click(c, Locator::Css("form.version button[type=submit]")).await;
    // The old page has a schema table too: wait for the navigation itself.
    wait_url(c, "version=0.3.0").await;
    wait_for(c, Locator::Css("table.schema")).await;

    click(c, Locator::Css("button[aria-label='Download data/train.parquet']")).await;
    let bytes = saved(root, "train.parquet").await;
    assert_eq!(bytes, std::fs::read(root.join("notes/data/train.parquet")).unwrap());
    c.goto(&format!("{base}/orgs/default/activity")).await.unwrap();
    let feed = text(c, "table.activity tbody").await;
    assert!(feed.contains("default/notes") && feed.contains("0.3.0"), "{feed}");
    c.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn card_rows_at_any_offset_and_a_phone_layout() {
    let Some(sess) = session(true).await else {
        return;
    };
    let (c, base, root) = (&sess.c, &sess.base, &sess.root);
    // A dataset of 12,000 rows whose card carries script payloads.
    let dir = root.join("years");
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from("year,label,long\n");
    for i in 0..12_000 {
        csv.push_str(&format!("{},row {i},{}\n", 2000 + i % 30, "word ".repeat(60)));
    }
    std::fs::write(dir.join("years.csv"), csv).unwrap();
    std::fs::write(dir.join("dataset.yaml"), "name: years\nversion: 1.0.0\n").unwrap();
    std::fs::write(
        dir.join("README.md"),
        "# Years\n\nA **card**.\n\n<script>window.__xss = 1</script>\n\n<img src=x onerror=\"window.__xss = 2\">\n\n[x](javascript:window.__xss=3)\n",
    )
    .unwrap();
    ok(&run(root, &["dataset", "push", dir.to_str().unwrap()]));

    c.goto(&format!("{base}/orgs/default/datasets/years")).await.unwrap();
    assert!(text(c, "#stats-h + p.hint").await.contains("are pending"));
    let ran = ok(&run(
        root,
        &["admin", "viewer-run", "--data-dir", root.join("data").to_str().unwrap()],
    ));
    assert_eq!(ran.trim(), "ran 3 viewer job(s)", "qa, notes and years");
    c.goto(&format!("{base}/orgs/default/datasets/years")).await.unwrap();
    // A card per column, each with a chart; the rendition is offered for download.
    assert_eq!(c.find_all(Locator::Css("article.stat")).await.unwrap().len(), 3);
    assert_eq!(
        c.find_all(Locator::Css("article.stat svg.mini")).await.unwrap().len(),
        3
    );
    let bars = c
        .find_all(Locator::Css("article.stat svg.mini rect"))
        .await
        .unwrap()
        .len();
    assert!(bars >= 3, "{bars} bars");
    assert!(text(c, "ul.renditions").await.contains("years.csv.parquet"));
    // Search from the page.
    let q = c.find(Locator::Css("form.pick input[name=q]")).await.unwrap();
    q.send_keys("ROW 1000").await.unwrap();
    click(c, Locator::Css("form.pick button[type=submit]")).await;
    wait_url(c, "q=ROW").await;
    let hint = text(c, "#preview p.hint").await;
    assert!(hint.starts_with("11 matching rows; 0–10 shown"), "{hint}");
    let first = text(c, "table.preview tbody tr:first-child").await;
    assert!(first.contains("row 1000"), "{first}");
    c.goto(&format!("{base}/orgs/default/datasets/years")).await.unwrap();
    let card = text(c, "section.datacard .markdown").await;
    assert!(card.starts_with("Years\nA card."), "{card}");
    assert_eq!(
        c.find(Locator::Css("section.datacard h3"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Years"
    );
    let xss = c.execute("return window.__xss === undefined", vec![]).await.unwrap();
    assert_eq!(xss, serde_json::json!(true), "no script of the card ran");

    // Rows at offset 10,000: through the form, then on to the next page.
    let goto = c.find(Locator::Css("form.goto input[name=offset]")).await.unwrap();
    goto.clear().await.unwrap();
    goto.send_keys("10000").await.unwrap();
    click(c, Locator::Css("form.goto button[type=submit]")).await;
    wait_url(c, "offset=10000").await;
    let first = text(c, "table.preview tbody tr:first-child").await;
    assert!(first.starts_with("10000") && first.contains("row 10000"), "{first}");
    assert_eq!(
        text(c, "#preview p.hint").await,
        "Rows 10,000–10,099 of 12,000 of default/years@1.0.0."
    );
    click(c, Locator::Css("nav.pager a[rel=next]")).await;
    wait_url(c, "offset=10100").await;
    let first = text(c, "table.preview tbody tr:first-child").await;
    assert!(first.contains("row 10100"), "{first}");
    // The header stays in view while the grid scrolls.
    let sticky = c
        .execute(
            "const g = document.querySelector('.scroll.grid'); g.scrollTop = 600; \
             const th = document.querySelector('table.preview thead th'); \
             return Math.round(th.getBoundingClientRect().top - g.getBoundingClientRect().top);",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        sticky.as_i64().unwrap().abs() <= 2,
        "header at the top of the grid: {sticky}"
    );

    // Another version: the history links to its diff; the chart shows the day's downloads.
    std::fs::write(dir.join("more.csv"), "year,label,long\n2031,extra,x\n").unwrap();
    ok(&run(
        root,
        &["dataset", "push", dir.to_str().unwrap(), "--version", "1.1.0"],
    ));
    ok(&run(root, &["dataset", "pull", "years@1.1.0", "--urls"]));
    c.goto(&format!("{base}/orgs/default/datasets/years")).await.unwrap();
    assert_eq!(
        c.find_all(Locator::Css("figure.chart svg rect.bar"))
            .await
            .unwrap()
            .len(),
        30
    );
    let chart = text(c, "#downloads-h + p.hint").await;
    assert_eq!(chart, "1 download of all versions; 1 in the last 30 days.");
    click(c, Locator::LinkText("Diff from 1.0.0")).await;
    wait_url(c, "/diff").await;
    assert_eq!(text(c, "h1").await, "default/years 1.0.0 → 1.1.0");
    let files = text(c, "table.diff tbody").await;
    assert!(files.contains("added more.csv"), "{files}");
    assert!(text(c, "dl.facts").await.contains("12,000 → 12,001 (+1)"));

    // Owner actions, each confirmed: publish the dataset, then delete its newest version.
    c.goto(&format!("{base}/orgs/default/datasets/years")).await.unwrap();
    click(c, Locator::Css("section.manage form.inline button")).await;
    c.accept_alert().await.unwrap();
    wait_for(
        c,
        Locator::XPath("//section[@class='manage']//button[text()='Make private']"),
    )
    .await;
    assert!(text(c, "dl.facts").await.contains("Public"));
    click(c, Locator::Css("form.delete input[name=confirm]")).await;
    click(c, Locator::Css("form.delete button.danger")).await;
    c.accept_alert().await.unwrap();
    wait_for(
        c,
        Locator::XPath("//select[@id='version']/option[@selected and @value='1.0.0']"),
    )
    .await;
    assert_eq!(c.find_all(Locator::Css("#version option")).await.unwrap().len(), 1);

    // A phone: 390 px wide.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{base}/orgs/default/datasets/years?version=1.0.0"))
        .await
        .unwrap();
    wait_for(c, Locator::Css("table.preview")).await;
    shot(c, "dataset-390").await;
    // A year is one line, whole: a cell no taller than a row of text.
    let heights = c
        .execute(
            "return [...document.querySelectorAll('table.preview tbody tr')].slice(0, 20) \
               .map(r => Math.round(r.getBoundingClientRect().height));",
            vec![],
        )
        .await
        .unwrap();
    for h in heights.as_array().unwrap() {
        assert!(h.as_i64().unwrap() <= 30, "compact rows, one line each: {heights}");
    }
    let year = text(c, "table.preview tbody tr:first-child td.n").await;
    assert_eq!(year, "2000");
    // The catalog: the first card above the fold, the filters behind a button.
    c.goto(&format!("{base}/orgs/default")).await.unwrap();
    wait_for(c, Locator::Css("article.card")).await;
    shot(c, "catalog-390").await;
    let top = c
        .execute(
            "return document.querySelector('article.card').getBoundingClientRect().top",
            vec![],
        )
        .await
        .unwrap();
    assert!(top.as_f64().unwrap() < 844.0, "first card at {top} px");
    let facets_shown = "return getComputedStyle(document.querySelector('aside.facets')).display !== 'none'";
    assert_eq!(c.execute(facets_shown, vec![]).await.unwrap(), serde_json::json!(false));
    click(c, Locator::Css("label.filters-toggle")).await;
    assert_eq!(c.execute(facets_shown, vec![]).await.unwrap(), serde_json::json!(true));
    c.clone().close().await.unwrap();
}
