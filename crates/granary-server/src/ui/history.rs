//! A dataset over time in the page: the version history with links to each diff, the
//! downloads chart, and the diff page (`/orgs/{org}/datasets/{name}/diff?from=&to=`).

use axum::extract::{Path, Query, State};
use granary_core::Version;
use granary_db::VersionRecord;
use maud::{html, Markup};
use serde::Deserialize;

use super::view::{self, bytes, count, query, when};
use super::{UiError, UiResult, Viewer};
use crate::routes::datasets::local_name;
use crate::routes::history::{diff, versions_to_compare, Delta, DiffOut, DownloadsOut};
use crate::AppState;

/// Most versions listed in the history.
pub const HISTORY_VERSIONS: usize = 50;

/// The version history: each version with its date, rows, size and downloads, and a link
/// to what changed from the version before it.
pub fn versions_section(base: &str, records: &[VersionRecord], downloads: &DownloadsOut) -> Markup {
    html! {
        section aria-labelledby="versions-h" {
            h2 #versions-h { "Versions" }
            div.scroll {
                table.versions {
                    thead { tr {
                        th scope="col" { "Version" } th scope="col" { "Published" }
                        th scope="col" { "Rows" } th scope="col" { "Size" } th scope="col" { "Downloads" }
                        th scope="col" { "Changes" }
                    } }
                    tbody {
                        @for (i, r) in records.iter().enumerate() {
                            tr {
                                td { a href={ (base) (query(&[("version", r.version.to_string())])) } { (r.version) } }
                                td { (when(r.created_at)) }
                                td.num { (count(r.meta.row_count)) }
                                td.num { (bytes(r.meta.file_size_bytes)) }
                                td.num { (count(downloads.by_version.get(&r.version.to_string()).copied().unwrap_or(0))) }
                                td {
                                    @if let Some(prev) = records.get(i + 1) {
                                        a href={ (base) "/diff" (query(&[("from", prev.version.to_string()), ("to", r.version.to_string())])) } {
                                            "Diff from " (prev.version)
                                        }
                                    } @else { "First version" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Chart size, in SVG user units.
const CHART_W: u32 = 600;
const CHART_H: u32 = 120;

/// Downloads per day as a bar chart (inline SVG: no script, allowed by the page's policy),
/// with the all-time total and a table of the same numbers for screen readers.
pub fn downloads_section(d: &DownloadsOut) -> Markup {
    let max = d.series.iter().map(|x| x.count).max().unwrap_or(0).max(1);
    let n = d.series.len().max(1) as u32;
    let slot = CHART_W / n;
    let bar = (slot * 4 / 5).max(1);
    let in_window: u64 = d.series.iter().map(|x| x.count).sum();
    html! {
        section aria-labelledby="downloads-h" {
            h2 #downloads-h { "Downloads" }
            p.hint {
                strong { (count(d.total)) } @if d.total == 1 { " download" } @else { " downloads" } " of all versions; "
                (count(in_window)) " in the last " (d.days) " days."
            }
            figure.chart {
                svg viewBox={ "0 0 " (CHART_W) " " (CHART_H + 16) } role="img"
                    aria-label={ "Downloads per day over the last " (d.days) " days" } {
                    line x1="0" y1=(CHART_H) x2=(CHART_W) y2=(CHART_H) stroke="#d9dde3" {}
                    @for (i, day) in d.series.iter().enumerate() {
                        @let h = (day.count * u64::from(CHART_H - 4) / max) as u32;
                        @let h = if day.count > 0 { h.max(2) } else { 0 };
                        rect.bar x=(i as u32 * slot) y=(CHART_H - h) width=(bar) height=(h) fill="#1f5fbf" {
                            title { (day.date) ": " (count(day.count)) }
                        }
                    }
                    @if let (Some(first), Some(last)) = (d.series.first(), d.series.last()) {
                        text x="0" y=(CHART_H + 13) font-size="11" fill="#5b6474" { (first.date) }
                        text x=(CHART_W) y=(CHART_H + 13) font-size="11" fill="#5b6474" text-anchor="end" { (last.date) }
                    }
                }
                figcaption.visually-hidden {
                    table {
                        thead { tr { th scope="col" { "Day" } th scope="col" { "Downloads" } } }
                        tbody {
                            @for day in d.series.iter().filter(|x| x.count > 0) {
                                tr { td { (day.date) } td { (day.count) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

fn version_param(v: Option<&str>) -> UiResult<Option<Version>> {
    match v.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|e: granary_core::VersionError| UiError::bad_request(e.to_string())),
    }
}

fn signed(d: &Delta, show: impl Fn(u64) -> String) -> Markup {
    html! {
        (show(d.from)) " → " (show(d.to)) " "
        @match d.delta {
            0 => span.same { "(no change)" },
            x if x > 0 => span.up { "(+" (show(x as u64)) ")" },
            x => span.down { "(−" (show(x.unsigned_abs())) ")" },
        }
    }
}

/// `GET /orgs/{org}/datasets/{name}/diff?from=&to=`: what changed between two versions.
pub async fn diff_page(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((org, name)): Path<(String, String)>,
    Query(q): Query<DiffQuery>,
) -> UiResult {
    let from = version_param(q.from.as_deref())?;
    let to = version_param(q.to.as_deref())?;
    let access = s.org_access(&viewer.caller, &org).await?;
    let name = local_name(&org, &name)?;
    let versions = s.db.list_versions(access.org.id, name).await?;
    let (a, b) = versions_to_compare(&s, &access, name, from, to).await?;
    let d = diff(&a, &b);
    let base = format!("/orgs/{org}/datasets/{name}");
    let title = format!("{} {} → {}", d.name, d.from, d.to);
    let body = html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href={ "/orgs/" (org) } { (org) } " / " a href=(base) { (name) } " / " span { "diff" }
        }
        h1 { (d.name) " " (d.from) " → " (d.to) }
        form.diffpick method="get" action={ (base) "/diff" } data-autosubmit {
            label for="from" { "From" }
            select #from name="from" {
                @for v in &versions { option value=(v) selected[*v == a.version] { (v) } }
            }
            label for="to" { "To" }
            select #to name="to" {
                @for v in &versions { option value=(v) selected[*v == b.version] { (v) } }
            }
            button type="submit" { "Compare" }
        }
        dl.facts {
            div { dt { "Rows" } dd { (signed(&d.row_count, count)) } }
            div { dt { "Size" } dd { (signed(&d.file_size_bytes, bytes)) } }
        }
        (diff_body(&d))
    };
    Ok(view::page(&title, Some(&viewer), Some(&org), body))
}

fn diff_body(d: &DiffOut) -> Markup {
    let c = &d.columns;
    let f = &d.files;
    html! {
        section aria-labelledby="cols-h" {
            h2 #cols-h { "Columns" }
            @if c.added.is_empty() && c.removed.is_empty() && c.retyped.is_empty() {
                p.hint { "The same columns with the same types." }
            } @else {
                div.scroll { table.diff {
                    thead { tr { th scope="col" { "Change" } th scope="col" { "Column" } th scope="col" { "Type" } } }
                    tbody {
                        @for x in &c.added { tr.added { td { "added" } td { code { (x.name) } } td { code { (x.kind) } } } }
                        @for x in &c.removed { tr.removed { td { "removed" } td { code { (x.name) } } td { code { (x.kind) } } } }
                        @for x in &c.retyped {
                            tr.retyped { td { "retyped" } td { code { (x.name) } } td { code { (x.from) } " → " code { (x.to) } } }
                        }
                    }
                } }
            }
        }
        @if !d.splits.is_empty() {
            section aria-labelledby="splits-h" {
                h2 #splits-h { "Rows per split" }
                div.scroll { table.diff {
                    thead { tr { th scope="col" { "Split" } th scope="col" { "Rows" } } }
                    tbody {
                        @for (sp, delta) in &d.splits { tr { td { (sp) } td { (signed(delta, count)) } } }
                    }
                } }
            }
        }
        section aria-labelledby="files-h" {
            h2 #files-h { "Files" }
            @if f.added.is_empty() && f.removed.is_empty() && f.changed.is_empty() {
                p.hint { "The same files, byte for byte." }
            } @else {
                div.scroll { table.diff {
                    thead { tr { th scope="col" { "Change" } th scope="col" { "File" } th scope="col" { "Size" } } }
                    tbody {
                        @for x in &f.added { tr.added { td { "added" } td { code { (x.path) } } td.num { (bytes(x.size)) } } }
                        @for x in &f.removed { tr.removed { td { "removed" } td { code { (x.path) } } td.num { (bytes(x.size)) } } }
                        @for x in &f.changed {
                            tr.changed { td { "changed" } td { code { (x.path) } } td.num { (bytes(x.from.size)) " → " (bytes(x.to.size)) } }
                        }
                    }
                } }
                @if !f.unchanged.is_empty() {
                    p.hint { (f.unchanged.len()) " unchanged: " (f.unchanged.join(", ")) }
                }
            }
        }
        section aria-labelledby="fields-h" {
            h2 #fields-h { "Description" }
            @if d.fields_changed.is_empty() {
                p.hint { "No descriptive field changed." }
            } @else {
                p { "Changed: " (d.fields_changed.join(", ")) }
            }
        }
    }
}

/// Height of a column's mini chart, in SVG user units.
const MINI_H: u32 = 40;
const MINI_W: u32 = 160;

/// A small bar chart of `bars` (label, count), labelled for screen readers.
fn mini_chart(label: &str, bars: &[(String, u64)]) -> Markup {
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let n = bars.len().max(1) as u32;
    let slot = MINI_W / n;
    let w = (slot * 5 / 6).max(1);
    html! {
        svg.mini viewBox={ "0 0 " (MINI_W) " " (MINI_H) } role="img" aria-label=(label) {
            @for (i, (name, c)) in bars.iter().enumerate() {
                @let h = (*c * u64::from(MINI_H - 2) / max) as u32;
                @let h = if *c > 0 { h.max(1) } else { 0 };
                rect x=(i as u32 * slot) y=(MINI_H - h) width=(w) height=(h) fill="#1f5fbf" {
                    title { (name) ": " (count(*c)) }
                }
            }
        }
    }
}

fn num(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) if i < 0 => format!("-{}", count(i.unsigned_abs())),
            Some(i) => count(i as u64).to_string(),
            None => {
                let f = n.as_f64().unwrap_or(0.0);
                if f.abs() >= 1e6 || (f != 0.0 && f.abs() < 1e-3) {
                    format!("{f:.3e}")
                } else {
                    format!("{:.4}", f)
                        .trim_end_matches('0')
                        .trim_end_matches('.')
                        .to_string()
                }
            }
        },
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// The bars of a histogram (`hist`, `bin_edges`): each labelled by its range.
fn histogram_bars(h: &serde_json::Value) -> Vec<(String, u64)> {
    let counts = h["hist"].as_array().cloned().unwrap_or_default();
    let edges = h["bin_edges"].as_array().cloned().unwrap_or_default();
    counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let lo = edges.get(i).map(num).unwrap_or_default();
            let hi = edges.get(i + 1).map(num).unwrap_or_default();
            (format!("{lo} – {hi}"), c.as_u64().unwrap_or(0))
        })
        .collect()
}

/// Column statistics of a split: a card per column with its figures and a small chart.
/// `state` is the viewer job's; figures show once it is ready.
pub fn statistics_section(split: &str, state: &str, error: Option<&str>, stats: Option<&serde_json::Value>) -> Markup {
    html! {
        section aria-labelledby="stats-h" {
            h2 #stats-h { "Column statistics" }
            @match stats {
                None => {
                    @if state == "failed" {
                        p.error { "No statistics: " (error.unwrap_or("the job failed")) }
                    } @else {
                        p.hint role="status" { "Statistics of the " strong { (split) } " split are " (state) "; they are computed once, shortly after a publish." }
                    }
                }
                Some(s) => {
                    p.hint { "The " strong { (split) } " split: " (count(s["num_rows"].as_u64().unwrap_or(0))) " rows." }
                    div.stats {
                        @for c in s["columns"].as_array().into_iter().flatten() {
                            @let st = &c["column_statistics"];
                            @let name = c["column_name"].as_str().unwrap_or_default();
                            article.stat {
                                h3 { code { (name) } " " span.type { (c["arrow_type"].as_str().unwrap_or_default()) } }
                                p.nulls {
                                    (count(st["nan_count"].as_u64().unwrap_or(0))) " null ("
                                    (format!("{:.1}", st["nan_proportion"].as_f64().unwrap_or(0.0) * 100.0)) "%)"
                                }
                                dl.figures {
                                    @for k in ["min", "max", "mean", "median", "std", "n_unique"] {
                                        @if let Some(v) = st.get(k).filter(|v| !v.is_null()) {
                                            div { dt { (k) } dd { (num(v)) } }
                                        }
                                    }
                                }
                                @if let Some(h) = st.get("histogram").filter(|h| !h.is_null()) {
                                    (mini_chart(&format!("Histogram of {name}"), &histogram_bars(h)))
                                } @else if let Some(f) = st.get("frequencies").and_then(|f| f.as_object()) {
                                    @let bars: Vec<(String, u64)> = f.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect();
                                    (mini_chart(&format!("Most frequent values of {name}"), &bars))
                                    @if c["column_type"] == "string" {
                                        ol.top {
                                            @for (k, v) in bars.iter().take(5) { li { span.v { (k) } " " span.count { (count(*v)) } } }
                                        }
                                    }
                                } @else if let Some(h) = st.get("length_histogram").filter(|h| !h.is_null()) {
                                    (mini_chart(&format!("Lengths of {name}"), &histogram_bars(h)))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
