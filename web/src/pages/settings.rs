//! The tenant's settings: its slug, OpenAI-compatible endpoint, status,
//! name and time zone. Renaming a tenant or changing its time zone is a
//! platform operator's act (`tenants:write`, docs/rbac.md), so here they
//! are shown, not edited.

use ditto_types::api::{Tenant, TenantStatus};
use leptos::prelude::*;

use crate::api;
use crate::app::Session;
use crate::pages::sso::origin;
use crate::ui::{Failed, Loading, Ui, copy, when};

#[component]
pub fn Settings() -> impl IntoView {
    let session = Session::get();
    let tenant = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<Tenant>(&format!("/tenants/{t}")).await }
    });
    view! {
        <div class="page-head">
            <h1>"Settings"</h1>
            <p class="lede">"This tenant's endpoint and details."</p>
        </div>
        {move || match tenant.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
            Some(Ok(t)) => view! { <Details tenant=t/> }.into_any(),
        }}
    }
}

#[component]
fn Details(tenant: Tenant) -> impl IntoView {
    let ui = Ui::get();
    // Rendered in the browser only (the resource), where the origin is known.
    let endpoint = format!("{}/t/{}/v1", origin(), tenant.slug);
    let copied = endpoint.clone();
    let (status, badge) = match tenant.status {
        TenantStatus::Active => ("active", "badge badge-active"),
        TenantStatus::Suspended => ("suspended", "badge badge-revoked"),
    };
    view! {
        <section class="card" aria-labelledby="endpoint-title">
            <h2 id="endpoint-title">"OpenAI-compatible endpoint"</h2>
            <p class="hint">"Set it as the base URL of an OpenAI SDK or tool, with an API key of this tenant."</p>
            <div class="secret-row">
                <code class="endpoint" data-testid="endpoint">{endpoint}</code>
                <button class="secondary small" aria-label="Copy the endpoint URL"
                    on:click=move |_| { copy(&copied); ui.ok("Copied"); }>"Copy"</button>
            </div>
        </section>
        <section class="card" aria-labelledby="tenant-title">
            <h2 id="tenant-title">"Tenant"</h2>
            <dl class="facts tenant-facts" data-testid="tenant-facts">
                <dt>"Name"</dt>
                <dd data-testid="tenant-name">{tenant.name.clone()}</dd>
                <dt>"Slug"</dt>
                <dd><code>{tenant.slug.clone()}</code></dd>
                <dt>"Status"</dt>
                <dd><span class=badge>{status}</span></dd>
                <dt>"Time zone"</dt>
                <dd>{tenant.time_zone.clone()}<span class="hint">"Budget periods and daily usage start at its midnight."</span></dd>
                <dt>"Created"</dt>
                <dd>{when(&tenant.created_at)}" UTC"</dd>
            </dl>
            <p class="note" role="note">
                "Only a platform operator can rename this tenant or change its time zone. "
                "The slug never changes, so the endpoint above keeps working."
            </p>
        </section>
    }
}
