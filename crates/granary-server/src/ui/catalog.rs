//! The catalog page: search, facet filters with counts, every sort of the list endpoint,
//! paging and the include-public toggle; one card per dataset.

use axum::extract::{Path, RawQuery, State};
use granary_db::VersionRecord;
use maud::{html, Markup};
use serde::Deserialize;

use super::view::{self, bytes, count, query};
use super::{parse_form, UiError, UiResult, Viewer};
use crate::catalog::ListQuery;
use crate::routes::discovery::{parse_sort, rows_by_id, scope, FilterParams};
use crate::AppState;

/// Cards per page.
pub const PAGE_SIZE: u64 = 20;
/// Facet values listed before the rest are folded away (selected ones always show).
const FACET_VALUES: usize = 12;

#[derive(Deserialize, Default)]
struct PageParams {
    sort_by: Option<String>,
    sort_dir: Option<String>,
    page: Option<u64>,
}

/// A facet's label, query parameter, values with counts, and selected values.
type FacetGroup<'a> = (&'a str, &'a str, &'a [(String, u64)], &'a [String]);

const SORTS: [(&str, &str); 5] = [
    ("created_at", "Created"),
    ("updated_at", "Updated"),
    ("name", "Name"),
    ("row_count", "Rows"),
    ("file_size_bytes", "Size"),
];

pub async fn page(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(org): Path<String>,
    RawQuery(raw): RawQuery,
) -> UiResult {
    let raw = raw.unwrap_or_default();
    let filter: FilterParams = parse_form(raw.as_bytes())?;
    let p: PageParams = parse_form(raw.as_bytes())?;
    let mut errors = Vec::new();
    let (sort, dir) = parse_sort(p.sort_by.as_deref(), p.sort_dir.as_deref(), &mut errors);
    if let Some(e) = errors.first() {
        return Err(UiError::bad_request(e.msg.clone()));
    }
    let page = p.page.unwrap_or(1).max(1);
    let access = s.org_access(&viewer.caller, &org).await?;
    let include_public = filter.include_public.unwrap_or(false);
    let scope = scope(&access, include_public);
    let f = filter.clone().into_filter();
    let q = ListQuery {
        scope,
        filter: f,
        sort,
        dir,
        offset: (page - 1).saturating_mul(PAGE_SIZE),
        limit: PAGE_SIZE,
        group: true,
    };
    // One up-to-date index answers both the facets and the page.
    let (facets, (ids, total)) = {
        let ix = s.catalog.fresh(s.db.as_ref(), viewer.caller.marks).await?;
        (ix.facets(scope, &q.filter), ix.list(&q))
    };
    let rows = rows_by_id(&s, &ids).await?;
    // Each card counts the downloads of every version of its dataset.
    let mut totals = Vec::with_capacity(rows.len());
    for r in &rows {
        let (_, n) =
            s.db.list_downloads(&granary_db::ActivityQuery {
                org_id: r.org_id,
                user_id: None,
                dataset_name: Some(r.full_name.clone()),
                offset: 0,
                limit: 0,
            })
            .await?;
        totals.push(n);
    }
    let total_pages = total.div_ceil(PAGE_SIZE).max(1);

    // The current query without its page, for sort/page links.
    let mut pairs: Vec<(&str, String)> = vec![("search", filter.search.clone().unwrap_or_default())];
    for (k, vs) in [
        ("tags", &filter.tags),
        ("license", &filter.license),
        ("task_categories", &filter.task_categories),
        ("format", &filter.format),
        ("size_category", &filter.size_category),
    ] {
        pairs.extend(vs.iter().map(|v| (k, v.clone())));
    }
    if include_public {
        pairs.push(("include_public", "true".into()));
    }
    pairs.push(("sort_by", p.sort_by.clone().unwrap_or_default()));
    pairs.push(("sort_dir", p.sort_dir.clone().unwrap_or_default()));
    let page_link = |n: u64| {
        let mut q = pairs.clone();
        q.push(("page", if n > 1 { n.to_string() } else { String::new() }));
        format!("/orgs/{org}{}", query(&q))
    };
    let sort_by = p.sort_by.as_deref().unwrap_or("created_at");
    let sort_dir = p.sort_dir.as_deref().unwrap_or("desc");
    let facet_groups: [FacetGroup; 5] = [
        ("Tags", "tags", &facets.tags, &filter.tags),
        (
            "Task categories",
            "task_categories",
            &facets.task_categories,
            &filter.task_categories,
        ),
        ("License", "license", &facets.licenses, &filter.license),
        ("Format", "format", &facets.formats, &filter.format),
        ("Size", "size_category", &facets.size_categories, &filter.size_category),
    ];

    let body = html! {
        h1 { "Datasets" }
        // Below 768 px the filters fold away behind this toggle (CSS only; not submitted).
        input #show-filters.visually-hidden type="checkbox" aria-controls="facets";
        label.filters-toggle for="show-filters" { "Filters" }
        form.catalog #filters method="get" action={ "/orgs/" (org) } data-autosubmit {
            div.searchbar {
                label.visually-hidden for="search" { "Search datasets" }
                input #search type="search" name="search" placeholder="Search names and summaries"
                    value=(filter.search.as_deref().unwrap_or(""));
                label for="sort_by" { "Sort by" }
                select #sort_by name="sort_by" {
                    @for (key, label) in SORTS {
                        option value=(key) selected[key == sort_by] { (label) }
                    }
                }
                label.visually-hidden for="sort_dir" { "Direction" }
                select #sort_dir name="sort_dir" {
                    option value="desc" selected[sort_dir == "desc"] { "Descending" }
                    option value="asc" selected[sort_dir == "asc"] { "Ascending" }
                }
                label.check {
                    input type="checkbox" name="include_public" value="true" checked[include_public];
                    " Include public datasets"
                }
                button type="submit" { "Apply" }
            }
            div.layout {
                aside.facets #facets aria-label="Filters" {
                    @for (label, param, values, selected) in facet_groups {
                        (facet(label, param, values, selected))
                    }
                    @if !f_is_empty(&filter) {
                        p { a href={ "/orgs/" (org) } { "Clear all filters" } }
                    }
                }
                section.results aria-label="Results" {
                    p.summary-line role="status" {
                        (count(total)) @if total == 1 { " dataset" } @else { " datasets" }
                        " · " (count(facets.filtered_total)) " matching versions"
                    }
                    @if rows.is_empty() {
                        p.empty { "No datasets match. Try fewer filters or a shorter search." }
                    }
                    div.cards {
                        @for (r, n) in rows.iter().zip(&totals) { (card(r, *n)) }
                    }
                    (view::pager(page.min(total_pages), total_pages, page_link))
                }
            }
        }
    };
    Ok(view::page("Datasets", Some(&viewer), Some(&org), body))
}

fn f_is_empty(f: &FilterParams) -> bool {
    f.search.as_deref().unwrap_or("").is_empty()
        && f.tags.is_empty()
        && f.license.is_empty()
        && f.task_categories.is_empty()
        && f.format.is_empty()
        && f.size_category.is_empty()
}

fn facet(label: &str, param: &str, values: &[(String, u64)], selected: &[String]) -> Markup {
    // The most frequent values, plus any selected value not among them.
    let mut shown: Vec<(&str, u64)> = values
        .iter()
        .take(FACET_VALUES)
        .map(|(v, n)| (v.as_str(), *n))
        .collect();
    for s in selected {
        if !shown.iter().any(|(v, _)| v == s) {
            let n = values.iter().find(|(v, _)| v == s).map_or(0, |(_, n)| *n);
            shown.push((s.as_str(), n));
        }
    }
    html! {
        fieldset.facet {
            legend { (label) }
            @if shown.is_empty() {
                p.none { "—" }
            }
            ul {
                @for (value, n) in shown {
                    li {
                        label {
                            input type="checkbox" name=(param) value=(value) checked[selected.iter().any(|s| s == value)];
                            " " (value) " "
                            span.count { "(" (count(n)) ")" }
                        }
                    }
                }
            }
        }
    }
}

pub fn badges(r: &VersionRecord) -> Markup {
    let m = &r.meta;
    html! {
        ul.badges aria-label="Badges" {
            @if let Some(l) = &m.license { li.badge.license { (l) } }
            @for t in &m.task_categories { li.badge.task { (t) } }
            @for t in &m.tags { li.badge.tag { (t) } }
            li.badge.format { (m.format) }
            li.badge.size { (m.size_category) }
        }
    }
}

/// A dataset's card: its latest version, with `downloads` of all its versions.
fn card(r: &VersionRecord, downloads: u64) -> Markup {
    let (org, name) = r.full_name.split_once('/').unwrap_or(("", &r.full_name));
    let href = format!("/orgs/{org}/datasets/{name}");
    html! {
        article.card {
            h2 {
                a href=(href) { (r.meta.pretty_name.as_deref().unwrap_or(&r.full_name)) }
            }
            @if r.meta.pretty_name.is_some() { p.fullname { (r.full_name) } }
            @if let Some(s) = &r.meta.summary { p.summary { (s) } }
            (badges(r))
            dl.facts {
                div { dt { "Latest version" } dd { (r.version) } }
                div { dt { "Rows" } dd { (count(r.meta.row_count)) } }
                div { dt { "Size" } dd { (bytes(r.meta.file_size_bytes)) } }
                div { dt { "Downloads" } dd { (count(downloads)) } }
                div { dt { "Visibility" } dd { @if r.is_public { "Public" } @else { "Private" } } }
            }
        }
    }
}
