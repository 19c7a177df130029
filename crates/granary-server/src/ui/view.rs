//! The page frame and the small formatting helpers every page shares.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use granary_core::Role;
use maud::{html, Markup, DOCTYPE};

use super::{HtmlPage, Viewer};

/// Headers every page carries: no caching of private pages, and a policy that allows only
/// this site's own stylesheet and script, so even a missed escape could not run code.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

/// A whole page: header with navigation for `org` (when given), then `body`.
pub fn page(title: &str, viewer: Option<&Viewer>, org: Option<&str>, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · granary" }
                link rel="stylesheet" href="/static/granary.css";
                script src="/static/granary.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    nav aria-label="Main" {
                        a.brand href="/" { "granary" }
                        @if let (Some(v), Some(org)) = (viewer, org) {
                            (org_nav(v, org))
                        }
                        @if let Some(v) = viewer {
                            span.who { "Signed in as " strong { (v.caller.user.username) } }
                            form.inline method="post" action="/sign-out" {
                                input type="hidden" name="csrf" value=(v.csrf);
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    };
    let mut resp = markup.into_string().into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    resp.extensions_mut().insert(HtmlPage);
    resp
}

fn org_nav(v: &Viewer, org: &str) -> Markup {
    let role = v.role_in(org);
    html! {
        a href={ "/orgs/" (org) } { "Datasets" }
        @if role.is_some() {
            a href={ "/orgs/" (org) "/activity" } { "Activity" }
        }
        @if role == Some(Role::Owner) {
            a href={ "/orgs/" (org) "/settings" } { "Settings" }
        }
        @if v.orgs.len() > 1 {
            details.orgs {
                summary { "Organization: " (org) }
                ul {
                    @for (o, _) in &v.orgs {
                        li { a href={ "/orgs/" (o.key) } { (o.name) " (" (o.key) ")" } }
                    }
                }
            }
        } @else {
            span.org { "Organization: " (org) }
        }
    }
}

/// A byte count in granary's one convention (IEC units: `1.4 GiB`), as the CLI shows it.
pub fn bytes(n: u64) -> String {
    granary_core::human_bytes(n)
}

/// A count with thousands separators: `1,234,567`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A timestamp as `<time>`, readable and machine-readable.
pub fn when(t: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(crate::wire::iso(t)) { (t.format("%Y-%m-%d %H:%M UTC")) }
    }
}

/// A query string from pairs (values encoded), with a leading `?` unless empty.
pub fn query(pairs: &[(&str, String)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (*k, v.as_str()))
        .collect();
    if kept.is_empty() {
        return String::new();
    }
    format!("?{}", serde_html_form::to_string(&kept).unwrap_or_default())
}

/// Previous/next links and the page position.
pub fn pager(page: u64, total_pages: u64, link: impl Fn(u64) -> String) -> Markup {
    html! {
        @if total_pages > 1 {
            nav.pager aria-label="Pages" {
                @if page > 1 {
                    a rel="prev" href=(link(page - 1)) { "← Previous" }
                }
                span { "Page " (page) " of " (total_pages) }
                @if page < total_pages {
                    a rel="next" href=(link(page + 1)) { "Next →" }
                }
            }
        }
    }
}
