//! The SSO page's SCIM tokens: how the identity provider authenticates to
//! the tenant's SCIM endpoint. The secret is shown once.

use ditto_types::api::{CreatedScimToken, ScimToken, ScimTokenPage};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::app::Session;
use crate::pages::sso::origin;
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui, copy, when, when_opt};

#[component]
pub fn ScimTokens() -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let tokens = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<ScimTokenPage>(&format!("/tenants/{t}/scim-tokens?limit=100")).await }
    });
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let secret = RwSignal::new(None::<(String, String)>);
    let busy = RwSignal::new(false);
    // Rendered in the browser only (the resource), where the origin is known.
    let base = LocalResource::new(move || {
        let t = session.tenant();
        async move { format!("{}/t/{t}/scim/v2", origin()) }
    });

    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let body = json!({ "name": name.get_untracked().trim() });
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::post::<_, CreatedScimToken>(&format!("/tenants/{t}/scim-tokens"), &body)
                .await
            {
                Ok(created) => {
                    ui.ok(format!("SCIM token “{}” created", created.token.name));
                    secret.set(Some((created.token.name, created.secret)));
                    name.set(String::new());
                    error.set(None);
                    tokens.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    let revoke = move |k: ScimToken| {
        let t = session.tenant();
        ui.confirm(
            format!("Revoke SCIM token “{}”?", k.name),
            "The identity provider can no longer provision with it. This cannot be undone.",
            move || {
                let t = t.clone();
                let id = k.id;
                leptos::task::spawn_local(async move {
                    match api::call(
                        "POST",
                        &format!("/tenants/{t}/scim-tokens/{id}/revoke"),
                        None,
                    )
                    .await
                    {
                        Ok(()) => {
                            ui.ok("SCIM token revoked");
                            tokens.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    view! {
        <section class="card" aria-labelledby="scim-title">
            <h2 id="scim-title">"SCIM provisioning"</h2>
            <p class="hint">"Your identity provider creates, updates and disables accounts at "
                <code data-testid="scim-base">{move || base.get().unwrap_or_default()}</code>
                " with a bearer token from here."</p>
            {move || secret.get().map(|(name, value)| {
                let shown = value.clone();
                view! {
                    <div class="subcard secret" role="region" aria-label="New SCIM token">
                        <h3>{format!("Token “{name}”")}</h3>
                        <p>"Copy it now: it is not shown again."</p>
                        <div class="secret-row">
                            <code class="secret-value" data-testid="scim-secret">{shown}</code>
                            <button class="secondary small" on:click=move |_| { copy(&value); ui.ok("Copied"); }>"Copy"</button>
                            <button class="secondary small" on:click=move |_| secret.set(None)>"Done"</button>
                        </div>
                    </div>
                }
            })}
            <Show when=move || session.can("scim:write")>
                <form class="form-row" on:submit=create aria-label="New SCIM token">
                    <label class="grow">
                        "Token name"
                        <input name="scim-name" required maxlength="100" placeholder="e.g. Okta" bind:value=name/>
                        <FieldError error field="name"/>
                    </label>
                    <button type="submit" disabled=move || busy.get()>"Create token"</button>
                    <FormError error/>
                </form>
            </Show>
            {move || match tokens.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No SCIM tokens."/> }.into_any(),
                Some(Ok(page)) => {
                    let can_write = session.can("scim:write");
                    view! {
                        <table class="table">
                            <thead><tr><th>"Name"</th><th>"Prefix"</th><th>"Status"</th><th>"Created"</th><th>"Last used"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {page.items.into_iter().map(|k| {
                                    let active = k.revoked_at.is_none();
                                    let label = k.name.clone();
                                    let r = k.clone();
                                    view! {
                                        <tr data-scim-token=k.name.clone()>
                                            <td class="strong">{k.name.clone()}</td>
                                            <td><code>{k.prefix.clone()}</code></td>
                                            <td>{if active { view! { <span class="badge badge-active">"active"</span> } } else { view! { <span class="badge badge-revoked">"revoked"</span> } }}</td>
                                            <td class="muted nowrap">{when(&k.created_at)}</td>
                                            <td class="muted nowrap">{when_opt(&k.last_used_at)}</td>
                                            <td class="row-actions">
                                                {(can_write && active).then(|| view! {
                                                    <button class="danger small" aria-label=format!("Revoke {label}") on:click=move |_| revoke(r.clone())>"Revoke"</button>
                                                })}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }
            }}
        </section>
    }
}
