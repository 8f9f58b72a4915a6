//! Platform operator pages at `/console/platform`: tenants (create,
//! suspend, resume, delete after typing the slug), their health, and the
//! platform audit log with its chain's verification. Platform operators have no console session (their credential is a
//! platform service-account token), so this page asks for the token and
//! sends it as `Authorization: Bearer` itself. The token lives in this
//! page's memory only: never in storage or a cookie, gone on reload.

use ditto_types::api::{AuditEventPage, AuditVerification, Me, Tenant, TenantPage, TenantStatus};
use ditto_types::problem::Problem;
use gloo_net::http::{Method, RequestBuilder};
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::platform_health::TenantHealthTable;
use crate::api::{ApiError, ApiResult, BASE, enc};
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui, on_escape, when};

fn problem(status: u16, title: String) -> ApiError {
    ApiError(Box::new(Problem {
        kind: "about:blank".into(),
        title,
        status,
        detail: None,
        instance: None,
        request_id: None,
        errors: Vec::new(),
    }))
}

/// One admin API call with the operator's bearer token.
async fn call<T: DeserializeOwned>(
    token: &str,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> ApiResult<Option<T>> {
    let request = RequestBuilder::new(&format!("{BASE}{path}"))
        .method(method)
        .header("accept", "application/json")
        .header("authorization", &format!("Bearer {token}"));
    let sent = match body {
        Some(body) => match request
            .header("content-type", "application/json")
            .body(body.to_string())
        {
            Ok(r) => r.send().await,
            Err(e) => return Err(problem(0, e.to_string())),
        },
        None => request.send().await,
    };
    let response = sent.map_err(|e| problem(0, format!("Network error: {e}")))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(serde_json::from_str::<Problem>(&text)
            .map(|p| ApiError(Box::new(p)))
            .unwrap_or_else(|_| problem(status, format!("HTTP {status}"))));
    }
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| problem(0, format!("Unexpected response: {e}")))
}

pub(super) async fn get<T: DeserializeOwned>(token: &str, path: &str) -> ApiResult<T> {
    call::<T>(token, Method::GET, path, None)
        .await?
        .ok_or_else(|| problem(0, "Empty response".into()))
}

#[component]
pub fn Platform() -> impl IntoView {
    let token = RwSignal::new(None::<String>);
    let me = RwSignal::new(None::<Me>);
    let typed = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    // Enabled once hydrated (effects run in the browser only), so the form
    // is never sent as plain HTML with the token in the address.
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));

    let enter = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = typed.get_untracked().trim().to_owned();
        leptos::task::spawn_local(async move {
            match get::<Me>(&t, "/me").await {
                Ok(m) if m.platform_role.is_some() => {
                    me.set(Some(m));
                    token.set(Some(t));
                    typed.set(String::new());
                    error.set(None);
                }
                Ok(_) => error.set(Some(problem(
                    403,
                    "This token is not a platform operator's".into(),
                ))),
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <header class="topbar">
            <a class="brand" href="/console">"Ditto"</a>
            <span class="platform-tag">"Platform"</span>
            <span class="spacer"></span>
            {move || me.get().map(|m| view! {
                <span class="roles">{format!("platform {}", m.platform_role.unwrap_or_default())}</span>
                <button class="secondary small" on:click=move |_| { token.set(None); me.set(None); }>"Forget token"</button>
            })}
        </header>
        <main id="main" class="platform">
            {move || match token.get() {
                None => view! {
                    <form class="card sign-in" on:submit=enter aria-label="Platform operator">
                        <h1>"Platform operators"</h1>
                        <p class="hint">"Paste a platform service-account token. It stays in this page's memory only and is forgotten on reload."</p>
                        <label>
                            "Platform token"
                            <input name="token" type="password" autocomplete="off" required bind:value=typed/>
                        </label>
                        <FormError error/>
                        <button type="submit" disabled=move || !ready.get()>"Continue"</button>
                    </form>
                }.into_any(),
                Some(t) => {
                    // Bumped by every change to a tenant, so the health
                    // table and the audit log below show it.
                    let changed = RwSignal::new(0u32);
                    // An auditor reads; only holders of tenants:write see the forms.
                    let can_write = me.get_untracked().is_some_and(|m| {
                        m.platform_permissions.iter().any(|p| p == "tenants:write")
                    });
                    view! {
                        <Tenants token=t.clone() can_write changed/>
                        <TenantHealthTable token=t.clone() changed/>
                        <PlatformAudit token=t changed/>
                    }.into_any()
                }
            }}
        </main>
    }
}

#[component]
fn Tenants(token: String, can_write: bool, changed: RwSignal<u32>) -> impl IntoView {
    let ui = Ui::get();
    let token = StoredValue::new(token);
    let tenants = LocalResource::new(move || async move {
        get::<TenantPage>(&token.get_value(), "/tenants?limit=200&sort=name").await
    });
    let slug = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    // The tenant being deleted, and what has been typed to confirm it.
    let deleting = RwSignal::new(None::<Tenant>);
    let confirm_text = RwSignal::new(String::new());

    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body =
            json!({ "slug": slug.get_untracked().trim(), "name": name.get_untracked().trim() });
        busy.set(true);
        leptos::task::spawn_local(async move {
            match call::<Tenant>(&token.get_value(), Method::POST, "/tenants", Some(body)).await {
                Ok(_) => {
                    ui.ok(format!("Tenant “{}” created", slug.get_untracked().trim()));
                    slug.set(String::new());
                    name.set(String::new());
                    error.set(None);
                    tenants.refetch();
                    changed.update(|n| *n += 1);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let act = move |t: Tenant, what: &'static str| {
        let run = move || {
            let slug = t.slug.clone();
            leptos::task::spawn_local(async move {
                let path = format!("/tenants/{}/{what}", enc(&slug));
                match call::<Tenant>(&token.get_value(), Method::POST, &path, None).await {
                    Ok(_) => {
                        let done = if what == "suspend" {
                            "suspended"
                        } else {
                            "resumed"
                        };
                        ui.ok(format!("Tenant “{slug}” {done}"));
                        tenants.refetch();
                        changed.update(|n| *n += 1);
                    }
                    Err(e) => ui.error(&e),
                }
            });
        };
        if what == "suspend" {
            ui.confirm(
                "Suspend this tenant?",
                "Its keys and tokens are refused until it is resumed.",
                run,
            );
        } else {
            run();
        }
    };
    let delete = move |_| {
        let Some(t) = deleting.get_untracked() else {
            return;
        };
        leptos::task::spawn_local(async move {
            let path = format!("/tenants/{}", enc(&t.slug));
            match call::<()>(&token.get_value(), Method::DELETE, &path, None).await {
                Ok(_) => {
                    ui.ok(format!("Tenant “{}” deleted", t.slug));
                    deleting.set(None);
                    tenants.refetch();
                    changed.update(|n| *n += 1);
                }
                Err(e) => ui.error(&e),
            }
        });
    };

    view! {
        <div class="page-head">
            <h1>"Tenants"</h1>
            <p class="lede">"Every organisation on this platform."</p>
        </div>
        {can_write.then(|| view! {
        <form class="card form-grid" on:submit=create aria-label="New tenant">
            <label>
                "Slug"
                <input name="slug" required placeholder="acme" bind:value=slug/>
                <span class="hint">"Lowercase letters, digits and -; used in /t/{slug}/v1. Cannot change."</span>
                <FieldError error field="slug"/>
            </label>
            <label>
                "Name"
                <input name="tenant-name" required maxlength="200" placeholder="Acme Corp" bind:value=name/>
                <FieldError error field="name"/>
            </label>
            <div class="form-foot">
                <FormError error/>
                <button type="submit" disabled=move || busy.get()>"Create tenant"</button>
            </div>
        </form>
        })}
        {move || deleting.get().map(|t| {
            on_escape(move || deleting.set(None));
            let slug = t.slug.clone();
            let matches = move || confirm_text.get() == slug;
            view! {
                <div class="backdrop" on:click=move |_| deleting.set(None)></div>
                <div class="dialog" role="alertdialog" aria-modal="true" aria-labelledby="delete-tenant-title">
                    <h2 id="delete-tenant-title">{format!("Delete tenant “{}”?", t.name)}</h2>
                    <p>"Its users, keys, settings and usage go with it. This cannot be undone."</p>
                    <label>
                        {format!("Type {} to confirm", t.slug)}
                        <input name="confirm-slug" autocomplete="off" bind:value=confirm_text/>
                    </label>
                    <div class="actions">
                        <button class="secondary" on:click=move |_| deleting.set(None)>"Cancel"</button>
                        <button class="danger" disabled=move || !matches() on:click=delete>"Delete tenant"</button>
                    </div>
                </div>
            }
        })}
        <section class="card" aria-label="All tenants">
        {move || match tenants.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
            Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No tenants yet."/> }.into_any(),
            Some(Ok(page)) => view! {
                <table class="table">
                    <thead><tr><th>"Slug"</th><th>"Name"</th><th>"Status"</th><th>"Time zone"</th><th>"Created"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                    <tbody>
                        {page.items.into_iter().map(|t| {
                            let active = t.status == TenantStatus::Active;
                            let (a, d) = (t.clone(), t.clone());
                            let label = t.slug.clone();
                            view! {
                                <tr data-tenant=t.slug.clone()>
                                    <td class="strong">{t.slug.clone()}</td>
                                    <td>{t.name.clone()}</td>
                                    <td>{if active { view! { <span class="badge badge-active">"active"</span> } } else { view! { <span class="badge badge-revoked">"suspended"</span> } }}</td>
                                    <td class="muted">{t.time_zone.clone()}</td>
                                    <td class="muted nowrap">{when(&t.created_at)}</td>
                                    <td class="row-actions">
                                        {can_write.then(|| view! {
                                        <button class="secondary small" aria-label=format!("{} {label}", if active { "Suspend" } else { "Resume" })
                                            on:click=move |_| act(a.clone(), if active { "suspend" } else { "resume" })>{if active { "Suspend" } else { "Resume" }}</button>
                                        <button class="danger small" aria-label=format!("Delete {label}")
                                            on:click=move |_| { confirm_text.set(String::new()); deleting.set(Some(d.clone())); }>"Delete"</button>
                                        })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any(),
        }}
        </section>
    }
    .into_any()
}

/// Platform-wide audit events, newest first (every tenant's, or only the
/// platform's own), and whether the platform chain verifies.
#[component]
fn PlatformAudit(token: String, changed: RwSignal<u32>) -> impl IntoView {
    let token = StoredValue::new(token);
    let platform_only = RwSignal::new(false);
    // The page shown: None is the newest.
    let cursor = RwSignal::new(None::<String>);
    let events = LocalResource::new(move || {
        changed.track();
        let only = platform_only.get();
        let cursor = cursor.get();
        async move {
            let mut path = format!("/audit?limit=25&platform_only={only}");
            if let Some(cursor) = cursor {
                path.push_str(&format!("&cursor={}", enc(&cursor)));
            }
            get::<AuditEventPage>(&token.get_value(), &path).await
        }
    });
    let verification = LocalResource::new(move || {
        changed.track();
        async move { get::<AuditVerification>(&token.get_value(), "/audit/verification").await }
    });
    // Tenant slugs for the events' tenant ids.
    let tenants = LocalResource::new(move || {
        changed.track();
        async move {
            get::<TenantPage>(&token.get_value(), "/tenants?limit=200&sort=name")
                .await
                .map(|p| p.items)
                .unwrap_or_default()
        }
    });
    let slug = move |id: Option<ditto_types::TenantId>| match id {
        None => "platform".to_owned(),
        Some(id) => tenants
            .get()
            .and_then(|list| list.into_iter().find(|t| t.id == id).map(|t| t.slug))
            .unwrap_or_else(|| id.to_string().chars().take(8).collect()),
    };
    view! {
        <section class="card" aria-labelledby="platform-audit-title">
            <div class="section-head">
                <div>
                    <h2 id="platform-audit-title">"Platform audit log"</h2>
                    {move || verification.get().map(|v| match v {
                        Ok(v) if v.valid => view! {
                            <span class="badge badge-active">{format!("platform chain verified through #{}", v.verified_through)}</span>
                        }.into_any(),
                        Ok(v) => view! {
                            <span class="badge badge-revoked">{format!(
                                "platform chain broken at #{}",
                                v.broken.map(|b| b.seq).unwrap_or(v.verified_through + 1)
                            )}</span>
                        }.into_any(),
                        Err(e) => view! { <span class="badge" title=e.message()>"verification unavailable"</span> }.into_any(),
                    })}
                </div>
                <div class="health-controls">
                    <label class="check">
                        <input type="checkbox" name="platform-only" prop:checked=move || platform_only.get()
                            on:change=move |ev| { cursor.set(None); platform_only.set(event_target_checked(&ev)); }/>
                        "Platform events only"
                    </label>
                    <button class="secondary small" on:click=move |_| { events.refetch(); verification.refetch(); }>"Refresh"</button>
                </div>
            </div>
            {move || match events.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No events."/> }.into_any(),
                Some(Ok(page)) => {
                    let older = page.next_cursor.clone();
                    view! {
                    <table class="table">
                        <thead><tr><th>"When"</th><th>"Tenant"</th><th>"Action"</th><th>"Actor"</th><th>"Target"</th></tr></thead>
                        <tbody>
                            {page.items.into_iter().map(|e| {
                                let tenant = e.tenant_id;
                                view! {
                                <tr>
                                    <td class="muted nowrap">{when(&e.created_at)}</td>
                                    <td class="muted">{move || slug(tenant)}</td>
                                    <td><code>{e.action.clone()}</code></td>
                                    <td>{e.actor_type.clone()}</td>
                                    <td class="wrap">{format!("{} {}", e.target_type, e.target_id.clone().unwrap_or_default())}</td>
                                </tr>
                            }}).collect_view()}
                        </tbody>
                    </table>
                    <div class="pager">
                        <Show when=move || cursor.get().is_some()>
                            <button class="secondary small" on:click=move |_| cursor.set(None)>"Newest"</button>
                        </Show>
                        {older.map(|next| view! {
                            <button class="secondary small" on:click=move |_| cursor.set(Some(next.clone()))>"Older events"</button>
                        })}
                    </div>
                }.into_any()
                }
            }}
        </section>
    }
    .into_any()
}
