//! The dataset page (one version: summary, badges, origin, schema, files with counted
//! download buttons, and a preview of any split) and its download action.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use granary_core::Version;
use granary_db::VersionRecord;
use granary_infer::MAX_PREVIEW_ROWS;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;

use super::card::Card;
use super::catalog::badges;
use super::view::{self, bytes, count, query, when};
use super::{parse_form, UiError, UiResult, Viewer};
use crate::preview::{default_split, rows_split, SplitPreview};
use crate::routes::datasets::local_name;
use crate::routes::downloads::grant;
use crate::wire::file_facts;
use crate::AppState;

#[derive(Deserialize)]
pub struct PageQuery {
    version: Option<String>,
    split: Option<String>,
    /// The first row of the grid, 0-based (the rows endpoint's `offset`).
    offset: Option<String>,
    /// Search text, filter condition and order (the search and filter endpoints' `query`,
    /// `where` and `orderby`).
    q: Option<String>,
    #[serde(rename = "where")]
    condition: Option<String>,
    orderby: Option<String>,
}

fn parse_version(v: &str) -> UiResult<Version> {
    v.parse()
        .map_err(|e: granary_core::VersionError| UiError::bad_request(e.to_string()))
}

pub async fn page(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((org, name)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> UiResult {
    let version = match q.version.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => Some(parse_version(v)?),
        None => None,
    };
    let access = s.org_access(&viewer.caller, &org).await?;
    let name = local_name(&org, &name)?;
    let rec = s.visible_version(&access, name, version).await?;
    let versions = s.db.list_versions(access.org.id, name).await?;
    let split = q.split.filter(|s| !s.is_empty()).or_else(|| default_split(&rec));
    let offset: u64 = match q.offset.as_deref().filter(|o| !o.is_empty()) {
        None => 0,
        Some(o) => o
            .trim()
            .parse()
            .map_err(|_| UiError::bad_request(format!("offset {o:?} is not a row number (0 or more)")))?,
    };
    let pick = Pick {
        search: q.q.clone().unwrap_or_default().trim().to_string(),
        condition: q.condition.clone().unwrap_or_default().trim().to_string(),
        orderby: q.orderby.clone().unwrap_or_default().trim().to_string(),
    };
    let grid: Result<Grid, crate::error::ApiError> = if pick.active() {
        search_grid(&s, &rec, split.clone(), &pick, offset).await
    } else {
        rows_split(&s, &rec, split.clone(), offset, MAX_PREVIEW_ROWS)
            .await
            .map(Grid::from)
    };
    // The newest versions' records, in one query.
    let ids: Vec<_> =
        s.db.version_ids(access.org.id, name)
            .await?
            .into_iter()
            .take(super::history::HISTORY_VERSIONS)
            .map(|(id, _)| id)
            .collect();
    let mut history = s.db.versions_by_id(&ids).await?;
    history.sort_by_key(|r| std::cmp::Reverse(r.version));
    let downloads = crate::routes::history::downloads(&s, &access, &rec, 30).await?;
    let stats_split = split
        .clone()
        .unwrap_or_else(|| crate::viewer::DEFAULT_SPLIT.to_string());
    let (job, job_error, stats) = crate::viewer::statistics(&s, &rec, &stats_split).await?;
    let renditions =
        s.db.viewer_status(rec.id)
            .await?
            .map(|x| x.renditions)
            .unwrap_or_default();
    let title = rec.meta.pretty_name.clone().unwrap_or_else(|| rec.full_name.clone());
    let m = &rec.meta;
    let base = format!("/orgs/{org}/datasets/{name}");
    // Each split once, in the order its first file appears.
    let mut splits: Vec<&str> = Vec::new();
    for sp in rec.files.iter().filter_map(|f| f.split.as_deref()) {
        if !splits.contains(&sp) {
            splits.push(sp);
        }
    }

    // Files whose own schema is not the version's (splits holding different tables) show
    // theirs; when every file's is the version's, one table.
    let own_schemas: Vec<(&granary_db::FileRecord, &[(String, String)])> = rec
        .files
        .iter()
        .filter_map(|f| file_facts(&rec, f).0.map(|c| (f, c)))
        .collect();
    let own_schemas = if own_schemas
        .iter()
        .all(|(_, c)| granary_infer::same_columns(c, &m.data_schema))
    {
        Vec::new()
    } else {
        own_schemas
    };

    let body = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href={ "/orgs/" (org) } { (org) } " / " span { (name) }
        }
        div.title {
            h1 { (title) }
            form.version method="get" action=(base) data-autosubmit {
                label for="version" { "Version" }
                select #version name="version" {
                    @for v in &versions {
                        option value=(v) selected[*v == rec.version] {
                            (v) @if Some(v) == versions.first() { " (latest)" }
                        }
                    }
                }
                button type="submit" { "Show" }
            }
        }
        p.fullname { (rec.full_name) "@" (rec.version) }
        @if let Some(sm) = &m.summary { p.summary { (sm) } }
        (badges(&rec))
        dl.facts {
            div { dt { "Visibility" } dd { @if rec.is_public { "Public" } @else { "Private" } } }
            div { dt { "Rows" } dd { (count(m.row_count)) } }
            div { dt { "Size" } dd { (bytes(m.file_size_bytes)) } }
            div { dt { "Downloads" } dd { (count(rec.download_count)) " of this version, " (count(downloads.total)) " in all" } }
            div { dt { "Published" } dd { (when(rec.created_at)) } }
            @if let Some(langs) = &m.language {
                div { dt { "Languages" } dd { (langs.join(", ")) } }
            }
        }
        @if let Some(card) = m.description.as_deref().filter(|c| !c.trim().is_empty()) {
            section.datacard aria-labelledby="card-h" {
                h2 #card-h { "Dataset card" }
                div.markdown { (Card::render(card)) }
            }
        }
        @if let Some(origin) = &m.origin {
            section aria-labelledby="origin-h" {
                h2 #origin-h { "Origin" }
                dl.origin {
                    @for (k, v) in origin {
                        div { dt { (k) } dd { (json_text(v)) } }
                    }
                }
            }
        }
        section aria-labelledby="schema-h" {
            h2 #schema-h { "Schema" }
            @if own_schemas.is_empty() {
                (schema_table(&m.data_schema))
            } @else {
                p.hint { "The files differ in their columns or types; each file's own schema follows." }
                @for (f, columns) in &own_schemas {
                    h3 {
                        @if let Some(sp) = &f.split { (sp) " " }
                        code { (f.path) }
                    }
                    (schema_table(columns))
                }
            }
        }
        section aria-labelledby="files-h" {
            h2 #files-h { "Files" }
            p.hint { "Each download is counted and appears in the organization's activity." }
            div.scroll {
                table.files {
                    thead { tr {
                        th scope="col" { "File" } th scope="col" { "Split" } th scope="col" { "Rows" }
                        th scope="col" { "Size" }
                        th scope="col" { "Digest" } th scope="col" { span.visually-hidden { "Download" } }
                    } }
                    tbody {
                        @for f in &rec.files {
                            tr {
                                td { code { (f.path) } }
                                td { (f.split.as_deref().unwrap_or("—")) }
                                td.num { @match file_facts(&rec, f).1 { Some(n) => (count(n)), None => "—" } }
                                td.num { (bytes(f.size)) }
                                td { code.digest { (f.digest) } }
                                td {
                                    form.inline method="post" action={ (base) "/" (rec.version) "/download" } {
                                        input type="hidden" name="csrf" value=(viewer.csrf);
                                        input type="hidden" name="file" value=(f.path);
                                        button type="submit" aria-label={ "Download " (f.path) } { "Download" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !renditions.is_empty() {
                p.hint { "Parquet renditions (the published schema; read in place by DuckDB, polars and pandas):" }
                ul.renditions {
                    @for r in &renditions {
                        li {
                            code { (r.path) } " " span.count { (bytes(r.size)) } " "
                            form.inline method="post" action={ (base) "/" (rec.version) "/download" } {
                                input type="hidden" name="csrf" value=(viewer.csrf);
                                input type="hidden" name="file" value=(r.path);
                                button type="submit" aria-label={ "Download " (r.path) } { "Download" }
                            }
                        }
                    }
                }
            } @else if job != "ready" && rec.files.iter().any(|f| !f.path.ends_with(".parquet")) {
                p.hint { "Parquet renditions: " (job) "." }
            }
            p.digests {
                "Manifest " code { (rec.manifest_digest) } br;
                "Artifacts hash " code { (m.artifacts_hash) }
            }
        }
        section #preview aria-labelledby="preview-h" {
            h2 #preview-h { "Preview" }
            @if splits.len() > 1 {
                nav.splits aria-label="Splits" {
                    @for sp in &splits {
                        @let href = format!("{base}{}#preview", query(&[("version", rec.version.to_string()), ("split", sp.to_string())]));
                        @if split.as_deref() == Some(*sp) {
                            a href=(href) aria-current="page" { (sp) }
                        } @else {
                            a href=(href) { (sp) }
                        }
                    }
                }
            }
            (pick_form(&rec, &base, split.as_deref(), &pick))
            (preview_table(&rec, &base, split.as_deref(), offset, &pick, grid))
        }
        (super::history::statistics_section(&stats_split, &job, job_error.as_deref(), stats.as_ref()))
        @if access.role.is_some_and(|r| r.can_write()) {
            (manage(&base, &rec, &viewer.csrf))
        }
        (snippets(&rec))
        (super::history::versions_section(&base, &history, &downloads))
        (super::history::downloads_section(&downloads))
    };
    Ok(view::page(&title, Some(&viewer), Some(&org), body))
}

/// Owner actions: visibility of the dataset, deletion of this version. Each asks first
/// (`data-confirm`); deleting also needs its box ticked, which browsers enforce without
/// script. The same role rule as the API applies when the form is posted.
fn manage(base: &str, rec: &VersionRecord, csrf: &str) -> Markup {
    let r = format!("{}@{}", rec.full_name, rec.version);
    let (to, label, confirm) = if rec.is_public {
        (
            "false",
            "Make private",
            format!(
                "Make {} private? Other organizations will no longer see any of its versions.",
                rec.full_name
            ),
        )
    } else {
        (
            "true",
            "Publish",
            format!(
                "Publish {}? Every organization will see all of its versions.",
                rec.full_name
            ),
        )
    };
    html! {
        section.manage aria-labelledby="manage-h" {
            h2 #manage-h { "Manage" }
            form.inline method="post" action={ (base) "/visibility" } data-confirm=(confirm) {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="is_public" value=(to);
                button type="submit" { (label) }
            }
            form.delete method="post" action={ (base) "/" (rec.version) "/delete" }
                data-confirm={ "Delete " (r) "? This cannot be undone." } {
                input type="hidden" name="csrf" value=(csrf);
                label { input type="checkbox" name="confirm" value="yes" required; " I want to delete " (r) }
                button.danger type="submit" { "Delete this version" }
            }
        }
    }
}

#[derive(Deserialize)]
struct VisibilityForm {
    #[serde(default)]
    csrf: String,
    is_public: String,
}

/// `POST …/{name}/visibility`: publishes or unpublishes the dataset (contributors and
/// owners, as `PATCH …/visibility`), then back to its page.
pub async fn set_visibility(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((org, name)): Path<(String, String)>,
    body: Bytes,
) -> UiResult {
    let form: VisibilityForm = parse_form(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let is_public = match form.is_public.as_str() {
        "true" => true,
        "false" => false,
        other => {
            return Err(UiError::bad_request(format!(
                "is_public must be true or false, not {other:?}"
            )))
        }
    };
    let name = local_name(&org, &name)?;
    let access = crate::routes::datasets::writable_dataset(&s, &viewer.caller, &org, name).await?;
    s.db.set_visibility(access.org.id, name, is_public)
        .await?
        .ok_or_else(|| UiError::not_found(format!("dataset {org}/{name} not found")))?;
    tracing::info!(dataset = %format!("{org}/{name}"), is_public, user = %viewer.caller.user.username, "visibility set");
    Ok(Redirect::to(&format!("/orgs/{org}/datasets/{name}")).into_response())
}

#[derive(Deserialize)]
struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

/// `POST …/{name}/{version}/delete`: deletes the version (contributors and owners, as
/// `DELETE …/{version}`), then to the dataset's page, or the catalog when none is left.
pub async fn delete_version(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((org, name, version)): Path<(String, String, String)>,
    body: Bytes,
) -> UiResult {
    let form: DeleteForm = parse_form(&body)?;
    viewer.check_csrf(&form.csrf)?;
    if form.confirm != "yes" {
        return Err(UiError::bad_request("tick the box to confirm the deletion"));
    }
    let version = parse_version(&version)?;
    let name = local_name(&org, &name)?;
    let access = crate::routes::datasets::writable_dataset(&s, &viewer.caller, &org, name).await?;
    if !s.db.delete_version(access.org.id, name, version).await? {
        return Err(UiError::not_found(format!(
            "version {version} of dataset {org}/{name} not found"
        )));
    }
    tracing::info!(dataset = %format!("{org}/{name}@{version}"), user = %viewer.caller.user.username, "deleted");
    let left = s.db.list_versions(access.org.id, name).await?;
    let to = if left.is_empty() {
        format!("/orgs/{org}")
    } else {
        format!("/orgs/{org}/datasets/{name}")
    };
    Ok(Redirect::to(&to).into_response())
}

/// How to load the version: the two CLIs, and DuckDB, polars and pandas over a download
/// link (`granary dataset pull --urls` prints signed links; each is counted).
fn snippets(rec: &VersionRecord) -> Markup {
    let r = format!("{}@{}", rec.full_name, rec.version);
    let file = rec
        .files
        .iter()
        .find(|f| f.path.ends_with(".parquet"))
        .or(rec.files.first())
        .map(|f| f.path.clone())
        .unwrap_or_default();
    let reader = match granary_core::DataFormat::from_path(&file) {
        Some(granary_core::DataFormat::Csv) => ("read_csv", "read_csv", "read_csv_auto"),
        Some(granary_core::DataFormat::Json | granary_core::DataFormat::Jsonl) => {
            ("read_ndjson", "read_json", "read_json_auto")
        }
        Some(granary_core::DataFormat::Arrow | granary_core::DataFormat::Feather) => {
            ("read_ipc", "read_feather", "read_parquet")
        }
        _ => ("read_parquet", "read_parquet", "read_parquet"),
    };
    let pandas_extra = if reader.1 == "read_json" { ", lines=True" } else { "" };
    let text = format!(
        "# granary\ngranary dataset pull {r} --output ./data\n\n\
         # dreadnode\ndn dataset pull {r}\n\n\
         # a signed link to {file}\nexport URL=$(granary dataset pull {r} --include '{file}' --urls | cut -f2)\n\n\
         # DuckDB\nduckdb -c \"SELECT * FROM {duck}('$URL') LIMIT 10\"\n\n\
         # polars\npython -c \"import os, polars as pl; print(pl.{pl}(os.environ['URL']))\"\n\n\
         # pandas\npython -c \"import os, pandas as pd; print(pd.{pd}(os.environ['URL']{pandas_extra}))\"",
        duck = reader.2,
        pl = reader.0,
        pd = reader.1,
    );
    html! {
        section aria-labelledby="use-h" {
            h2 #use-h { "Use this dataset" }
            p.hint { "Each command and link counts as a download. Signed links expire; " code { "--urls" } " prints fresh ones." }
            pre.snippet { code { (text) } }
        }
    }
}

fn schema_table(columns: &[(String, String)]) -> Markup {
    html! {
        div.scroll {
            table.schema {
                thead { tr { th scope="col" { "Column" } th scope="col" { "Type" } } }
                tbody {
                    @for (col, ty) in columns {
                        tr { td { code { (col) } } td { code { (ty) } } }
                    }
                }
            }
        }
    }
}

/// A JSON value as plain text: strings as they are, everything else as JSON.
fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Rows for the grid: a page of the split, or of the rows a search or filter matched.
struct Grid {
    split: Option<String>,
    columns: Vec<(String, String)>,
    /// Each row with its index in the split.
    rows: Vec<(u64, serde_json::Map<String, Value>)>,
    /// Rows in the split, or matches; `None` when not known.
    total: Option<u64>,
    /// A search or filter: `total` counts matches (`partial`: of the rows read in time).
    matching: bool,
    partial: bool,
}

impl From<SplitPreview> for Grid {
    fn from(p: SplitPreview) -> Self {
        Grid {
            split: p.split,
            columns: p.preview.columns,
            rows: Vec::new(),
            total: p.total,
            matching: false,
            partial: false,
        }
        .with_rows(p.preview.rows)
    }
}

impl Grid {
    fn with_rows(mut self, rows: Vec<serde_json::Map<String, Value>>) -> Self {
        self.rows = rows.into_iter().enumerate().map(|(i, r)| (i as u64, r)).collect();
        self
    }
}

/// What the grid shows: the split's rows, or those a search or filter picks.
#[derive(Default)]
struct Pick {
    search: String,
    condition: String,
    orderby: String,
}

impl Pick {
    fn active(&self) -> bool {
        !self.search.is_empty() || !self.condition.is_empty() || !self.orderby.is_empty()
    }
    fn pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("q", &self.search),
            ("where", &self.condition),
            ("orderby", &self.orderby),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect()
    }
}

/// The search and filter form above the grid.
fn pick_form(rec: &VersionRecord, base: &str, split: Option<&str>, pick: &Pick) -> Markup {
    html! {
        form.pick method="get" action={ (base) "#preview" } role="search" {
            input type="hidden" name="version" value=(rec.version);
            @if let Some(sp) = split { input type="hidden" name="split" value=(sp); }
            label for="q" { "Search" }
            input #q type="search" name="q" value=(pick.search) placeholder="text in any string column";
            label for="where" { "Filter" }
            input #where type="text" name="where" value=(pick.condition) placeholder="\"age\" > 30 AND name = 'x'";
            label for="orderby" { "Order by" }
            input #orderby type="text" name="orderby" value=(pick.orderby) placeholder="column DESC";
            button type="submit" { "Apply" }
            @if pick.active() {
                a href={ (base) (query(&[("version", rec.version.to_string())])) "#preview" } { "Clear" }
            }
        }
    }
}

/// The grid of rows from `offset`, with links to the pages before and after and a form
/// to go to any row. Numbers and booleans never wrap; long text is cut to one line, the
/// whole cell in its `title`.
fn preview_table(
    rec: &VersionRecord,
    base: &str,
    split: Option<&str>,
    offset: u64,
    pick: &Pick,
    grid: Result<Grid, crate::error::ApiError>,
) -> Markup {
    let page = MAX_PREVIEW_ROWS as u64;
    let link = |at: u64| {
        let mut q = vec![("version", rec.version.to_string())];
        if let Some(sp) = split {
            q.push(("split", sp.to_string()));
        }
        q.extend(pick.pairs());
        if at > 0 {
            q.push(("offset", at.to_string()));
        }
        format!("{base}{}#preview", query(&q))
    };
    match grid {
        Err(e) => html! { p.error role="alert" { "No rows: " (e.detail) } },
        Ok(g) => {
            let shown = g.rows.len() as u64;
            let total = g.total;
            html! {
                p.hint role="status" {
                    @if g.matching {
                        (count(total.unwrap_or(0))) @if g.partial { "+" }
                        @if total == Some(1) { " matching row" } @else { " matching rows" }
                        @if shown > 0 { "; " (count(offset)) "–" (count(offset + shown - 1)) " shown" }
                        @if g.partial { " (the search stopped at its time limit)" }
                    } @else {
                        @if shown == 0 {
                            "No rows at " (count(offset))
                        } @else {
                            "Rows " (count(offset)) "–" (count(offset + shown - 1))
                        }
                        @if let Some(t) = total { " of " (count(t)) }
                    }
                    @if let Some(sp) = &g.split { " in the " strong { (sp) } " split" }
                    " of " (rec.full_name) "@" (rec.version) "."
                }
                nav.pager aria-label="Rows" {
                    @if offset > 0 {
                        a rel="prev" href=(link(offset.saturating_sub(page))) { "← Previous " (page) }
                    }
                    @if total.is_none_or(|t| offset + shown < t) && shown == page {
                        a rel="next" href=(link(offset + page)) { "Next " (page) " →" }
                    }
                    @if !g.matching {
                        form.goto method="get" action={ (base) "#preview" } {
                            input type="hidden" name="version" value=(rec.version);
                            @if let Some(sp) = split { input type="hidden" name="split" value=(sp); }
                            label for="offset" { "Go to row" }
                            input #offset type="number" name="offset" min="0" max=[total.map(|t| t.saturating_sub(1))] value=(offset) inputmode="numeric";
                            button type="submit" { "Go" }
                        }
                    }
                }
                div.scroll.grid {
                    table.preview {
                        thead { tr {
                            th scope="col" { "#" }
                            @for (c, ty) in &g.columns { th scope="col" title=(ty) { (c) } }
                        } }
                        tbody {
                            @for (i, row) in &g.rows {
                                tr {
                                    th.idx scope="row" { (if g.matching { *i } else { offset + i }) }
                                    @for (c, _) in &g.columns {
                                        @let v = row.get(c).unwrap_or(&Value::Null);
                                        (cell(v))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The rows a search or filter picks, as the API's search and filter endpoints find them.
async fn search_grid(
    s: &AppState,
    rec: &VersionRecord,
    split: Option<String>,
    pick: &Pick,
    offset: u64,
) -> Result<Grid, crate::error::ApiError> {
    use granary_infer::query::{parse_where, Query, MAX_ORDERED_ROWS};
    let invalid = |m: String| crate::error::ApiError::new(crate::error::ErrorKind::Validation, m);
    let mut q = Query::default();
    if !pick.search.is_empty() {
        q.search = Some(pick.search.clone());
    }
    if !pick.condition.is_empty() {
        q.filter = Some(parse_where(&pick.condition).map_err(|m| invalid(format!("the filter: {m}")))?);
    }
    if !pick.orderby.is_empty() {
        q.order_by = Some(granary_infer::query::parse_order_by(&pick.orderby));
        if offset + MAX_PREVIEW_ROWS as u64 > MAX_ORDERED_ROWS {
            return Err(invalid(format!("ordered pages reach row {MAX_ORDERED_ROWS} at most")));
        }
    }
    let (split, found) = crate::preview::query_split(s, rec, split, q, offset, MAX_PREVIEW_ROWS).await?;
    let columns = found.columns;
    Ok(Grid {
        split,
        columns,
        rows: found.rows,
        total: Some(found.total),
        matching: true,
        partial: found.partial,
    })
}

/// Longest text shown in a grid cell before it is cut (the whole text is in `title`).
const CELL_CHARS: usize = 120;

fn cell(v: &Value) -> Markup {
    match v {
        Value::Null => html! { td.null { "null" } },
        Value::Number(_) | Value::Bool(_) => html! { td.n { (json_text(v)) } },
        other => {
            let text = json_text(other);
            match text.char_indices().nth(CELL_CHARS) {
                Some((cut, _)) => html! { td title=(text) { (&text[..cut]) "…" } },
                None => html! { td { (text) } },
            }
        }
    }
}

#[derive(Deserialize)]
struct DownloadForm {
    #[serde(default)]
    csrf: String,
    file: String,
}

/// `POST …/{version}/download`: counts one download of the file and sends the browser to
/// its signed link.
pub async fn download(
    State(s): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Path((org, name, version)): Path<(String, String, String)>,
    body: Bytes,
) -> UiResult {
    let form: DownloadForm = parse_form(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let version = parse_version(&version)?;
    let access = s.org_access(&viewer.caller, &org).await?;
    let name = local_name(&org, &name)?;
    let rec = s.visible_version(&access, name, Some(version)).await?;
    // A file of the version, or the parquet rendition of one.
    let (rec, file) = match rec.files.iter().find(|f| f.path == form.file) {
        Some(f) => (rec.clone(), f.clone()),
        None => {
            let r =
                s.db.viewer_status(rec.id)
                    .await?
                    .and_then(|x| x.renditions.into_iter().find(|r| r.path == form.file))
                    .ok_or_else(|| {
                        UiError::not_found(format!("{}@{version} has no file {:?}", rec.full_name, form.file))
                    })?;
            let source = rec.files.iter().find(|f| f.path == r.source);
            let file = granary_db::FileRecord {
                path: r.path,
                digest: r.digest,
                size: r.size,
                split: source.and_then(|f| f.split.clone()),
                data_schema: None,
                row_count: Some(r.row_count),
            };
            let mut only = rec.clone();
            only.files = vec![file.clone()];
            (only, file)
        }
    };
    let out = grant(&s, &viewer.caller, &headers, &access, &rec, file.split.clone()).await?;
    let url = out
        .files
        .iter()
        .find(|l| l.path == file.path)
        .map(|l| l.url.clone())
        .ok_or_else(|| UiError::not_found("the file has no link"))?;
    Ok(Redirect::to(&url).into_response())
}
