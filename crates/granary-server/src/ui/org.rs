//! Organization pages: the download activity feed (members) and settings (owners:
//! members and roles, and the owner's own API keys).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect};
use granary_core::Role;
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use super::session::CsrfForm;
use super::view::{self, count, query, when};
use super::{parse_form, UiError, UiResult, Viewer};
use crate::access::OrgAccess;
use crate::auth::issue_api_key;
use crate::routes::discovery::feed;
use crate::AppState;

/// Events per activity page.
pub const ACTIVITY_PAGE: u64 = 50;

#[derive(Deserialize, Default)]
struct ActivityParams {
    dataset: Option<String>,
    user: Option<String>,
    page: Option<u64>,
}

pub async fn activity(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(org): Path<String>,
    RawQuery(raw): RawQuery,
) -> UiResult {
    let p: ActivityParams = parse_form(raw.unwrap_or_default().as_bytes())?;
    let user_id = match p.user.as_deref().filter(|u| !u.is_empty()) {
        Some(u) => {
            Some(Uuid::parse_str(u).map_err(|_| UiError::bad_request(format!("{u:?} is not a user id")))).transpose()?
        }
        None => None,
    };
    let page = p.page.unwrap_or(1).max(1);
    let access = s.org_access(&viewer.caller, &org).await?;
    let dataset = p.dataset.clone().unwrap_or_default();
    let feed_page = feed(
        &s,
        &viewer.caller,
        &access,
        user_id,
        Some(dataset.trim()),
        (page - 1) * ACTIVITY_PAGE,
        ACTIVITY_PAGE,
    )
    .await?;
    let (events, total) = (feed_page.0.as_slice(), feed_page.1);
    let members = s.db.list_members(access.org.id).await?;
    let total_pages = total.div_ceil(ACTIVITY_PAGE).max(1);
    let user_value = user_id.map(|u| u.to_string()).unwrap_or_default();
    let link = |n: u64| {
        format!(
            "/orgs/{org}/activity{}",
            query(&[
                ("dataset", dataset.clone()),
                ("user", user_value.clone()),
                ("page", if n > 1 { n.to_string() } else { String::new() }),
            ])
        )
    };
    let body = html! {
        h1 { "Download activity" }
        form.filters method="get" action={ "/orgs/" (org) "/activity" } data-autosubmit {
            label for="dataset" { "Dataset" }
            input #dataset type="text" name="dataset" value=(dataset) placeholder="name or org/name";
            label for="user" { "User" }
            select #user name="user" {
                option value="" { "Anyone" }
                @for (u, _) in &members {
                    option value=(u.id) selected[Some(u.id) == user_id] { (u.username) }
                }
            }
            button type="submit" { "Filter" }
        }
        p role="status" { (count(total)) @if total == 1 { " download" } @else { " downloads" } }
        @if events.is_empty() {
            p.empty { "No downloads match." }
        } @else {
            div.scroll {
                table.activity {
                    thead { tr {
                        th scope="col" { "When" } th scope="col" { "Dataset" } th scope="col" { "Version" }
                        th scope="col" { "Split" } th scope="col" { "User" } th scope="col" { "User's organization" }
                    } }
                    tbody {
                        @for e in events {
                            @let (eorg, ename) = e.dataset_name.split_once('/').unwrap_or((org.as_str(), e.dataset_name.as_str()));
                            tr {
                                td { (when(e.created_at)) }
                                td { a href={ "/orgs/" (eorg) "/datasets/" (ename) } { (e.dataset_name) } }
                                td { (e.version) }
                                td { (e.split.as_deref().unwrap_or("—")) }
                                td { (e.username) }
                                td { (e.user_org.as_deref().unwrap_or("—")) }
                            }
                        }
                    }
                }
            }
        }
        (view::pager(page.min(total_pages), total_pages, link))
    };
    Ok(view::page("Activity", Some(&viewer), Some(&org), body))
}

/// The org, if the viewer owns it; 404 for an unknown org, 403 for anyone else.
async fn owned(s: &AppState, viewer: &Viewer, org: &str) -> UiResult<OrgAccess> {
    let access = s.org_access(&viewer.caller, org).await?;
    if access.role != Some(Role::Owner) {
        return Err(UiError::Page(
            axum::http::StatusCode::FORBIDDEN,
            format!("the settings of organization {org} are for its owners"),
        ));
    }
    Ok(access)
}

async fn settings_page(
    s: &AppState,
    viewer: &Viewer,
    access: &OrgAccess,
    new_key: Option<(String, String)>,
) -> UiResult {
    let org = &access.org.key;
    let members = s.db.list_members(access.org.id).await?;
    let keys = s.db.list_api_keys(Some(viewer.caller.user.id)).await?;
    let body = html! {
        h1 { (access.org.name) " settings" }
        @if let Some((name, key)) = &new_key {
            section.newkey aria-labelledby="newkey-h" role="status" {
                h2 #newkey-h { "New API key “" (name) "”" }
                p { "Copy it now: it is shown only once." }
                p { code #new-key { (key) } }
            }
        }
        section aria-labelledby="members-h" {
            h2 #members-h { "Members" }
            div.scroll {
                table.members {
                    thead { tr { th scope="col" { "User" } th scope="col" { "Email" } th scope="col" { "Role" } } }
                    tbody {
                        @for (u, r) in &members {
                            tr { td { (u.username) } td { (u.email) } td { (r) } }
                        }
                    }
                }
            }
            p.hint { "Add members and change roles with " code { "granary admin member" } "." }
        }
        section aria-labelledby="keys-h" {
            h2 #keys-h { "Your API keys" }
            (keys_table(org, viewer, &keys))
            form.newkey method="post" action={ "/orgs/" (org) "/settings/keys" } {
                input type="hidden" name="csrf" value=(viewer.csrf);
                label for="key-name" { "Name of a new key" }
                input #key-name type="text" name="name" required maxlength="100" placeholder="laptop, CI, …";
                button type="submit" { "Create key" }
            }
        }
    };
    Ok(view::page("Settings", Some(viewer), Some(org), body))
}

fn keys_table(org: &str, viewer: &Viewer, keys: &[granary_db::ApiKey]) -> Markup {
    html! {
        div.scroll {
            table.keys {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Starts with" } th scope="col" { "Created" }
                    th scope="col" { "Status" } th scope="col" { span.visually-hidden { "Revoke" } }
                } }
                tbody {
                    @for k in keys {
                        tr {
                            td { (k.name) }
                            td { code { (k.prefix) "…" } }
                            td { (when(k.created_at)) }
                            td {
                                @if let Some(t) = k.revoked_at { "Revoked " (when(t)) }
                                @else if k.id == viewer.caller.key.id { "Active (this session)" }
                                @else { "Active" }
                            }
                            td {
                                @if k.revoked_at.is_none() {
                                    form.inline method="post" action={ "/orgs/" (org) "/settings/keys/" (k.id) "/revoke" } data-confirm="Revoke this key? Programs using it stop working." {
                                        input type="hidden" name="csrf" value=(viewer.csrf);
                                        button.danger type="submit" aria-label={ "Revoke key " (k.name) } { "Revoke" }
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

pub async fn settings(State(s): State<AppState>, viewer: Viewer, Path(org): Path<String>) -> UiResult {
    let access = owned(&s, &viewer, &org).await?;
    settings_page(&s, &viewer, &access, None).await
}

#[derive(Deserialize)]
struct NewKeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// Creates a key for the signed-in owner and shows it once (the page is not cached).
pub async fn create_key(State(s): State<AppState>, viewer: Viewer, Path(org): Path<String>, body: Bytes) -> UiResult {
    let form: NewKeyForm = parse_form(&body)?;
    viewer.check_csrf(&form.csrf)?;
    let access = owned(&s, &viewer, &org).await?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(UiError::bad_request("a key needs a name of 1 to 100 characters"));
    }
    let (_, token) = issue_api_key(s.db.as_ref(), viewer.caller.user.id, name).await?;
    settings_page(&s, &viewer, &access, Some((name.to_string(), token))).await
}

/// Revokes one of the signed-in owner's own keys.
pub async fn revoke_key(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((org, id)): Path<(String, String)>,
    body: Bytes,
) -> UiResult {
    let form: CsrfForm = parse_form(&body)?;
    viewer.check_csrf(&form.csrf)?;
    owned(&s, &viewer, &org).await?;
    let id = Uuid::parse_str(&id).map_err(|_| UiError::not_found("no such key"))?;
    let keys = s.db.list_api_keys(Some(viewer.caller.user.id)).await?;
    if !keys.iter().any(|k| k.id == id) {
        return Err(UiError::not_found("no such key"));
    }
    s.db.revoke_api_key(id).await?;
    Ok(Redirect::to(&format!("/orgs/{org}/settings")).into_response())
}
