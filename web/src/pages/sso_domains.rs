//! The SSO page's email domains (claim, the DNS record proving them,
//! status, release) and enforced SSO with its break-glass owners.

use ditto_types::api::{
    DomainStatus, RoleBindingPage, SsoPolicy, SubjectKind, TenantDomain, TenantDomainPage, UserPage,
};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{self, ApiError, enc};
use crate::app::Session;
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui, copy, when_opt};

#[component]
pub fn Domains() -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let domains = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<TenantDomainPage>(&format!("/tenants/{t}/domains?limit=100")).await }
    });
    let domain = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);

    let claim = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let body = json!({ "domain": domain.get_untracked().trim() });
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::post::<_, TenantDomain>(&format!("/tenants/{t}/domains"), &body).await {
                Ok(d) => {
                    ui.ok(format!("{} claimed: publish its TXT record", d.domain));
                    domain.set(String::new());
                    error.set(None);
                    domains.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    let release = move |d: String| {
        let t = session.tenant();
        ui.confirm(
            format!("Release {d}?"),
            "Addresses at it are no longer sent to this tenant's identity provider, and another tenant may claim it.",
            move || {
                let (t, d) = (t.clone(), d.clone());
                leptos::task::spawn_local(async move {
                    match api::call("DELETE", &format!("/tenants/{t}/domains/{}", enc(&d)), None).await {
                        Ok(()) => {
                            ui.ok("Domain released");
                            domains.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    view! {
        <section class="card" aria-labelledby="domains-title">
            <h2 id="domains-title">"Email domains"</h2>
            <p class="hint">"Addresses at a verified domain are sent to your identity provider when they sign in. Publish the TXT record, then ask the platform operator to verify it."</p>
            <Show when=move || session.can("sso:write")>
                <form class="form-row" on:submit=claim aria-label="Claim a domain">
                    <label class="grow">
                        "Domain"
                        <input name="domain" required placeholder="example.com" bind:value=domain/>
                        <FieldError error field="domain"/>
                    </label>
                    <button type="submit" disabled=move || busy.get()>"Claim domain"</button>
                    <FormError error/>
                </form>
            </Show>
            {move || match domains.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No domains claimed."/> }.into_any(),
                Some(Ok(page)) => {
                    let can_write = session.can("sso:write");
                    view! {
                        <table class="table">
                            <thead><tr><th>"Domain"</th><th>"Status"</th><th>"TXT record"</th><th>"Verified"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {page.items.into_iter().map(|d| {
                                    let (status, badge) = match d.status { DomainStatus::Verified => ("verified", "active"), DomainStatus::Pending => ("pending", "expired") };
                                    let value = d.verification.record_value.clone();
                                    let name = d.domain.clone();
                                    view! {
                                        <tr data-domain=d.domain.clone()>
                                            <td class="strong">{d.domain.clone()}</td>
                                            <td><span class=format!("badge badge-{badge}")>{status}</span></td>
                                            <td class="wrap">
                                                <code>{d.verification.record_name.clone()}</code><br/>
                                                <code class="muted">{d.verification.record_value.clone()}</code>
                                                " "<button class="secondary small" on:click=move |_| { copy(&value); ui.ok("Copied"); }>"Copy"</button>
                                            </td>
                                            <td class="muted nowrap">{when_opt(&d.verified_at)}</td>
                                            <td class="row-actions">
                                                {can_write.then(|| view! {
                                                    <button class="danger small" aria-label=format!("Release {name}") on:click=move |_| release(name.clone())>"Release"</button>
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
        <Enforcement/>
    }
}

/// Enforced SSO, and the owners who may still use a password.
#[component]
fn Enforcement() -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let policy = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<SsoPolicy>(&format!("/tenants/{t}/sso-policy")).await }
    });
    // Owners (tenant-wide bindings of users): the only ones break-glass may name.
    let owners = LocalResource::new(move || {
        let t = session.tenant();
        async move {
            let bindings =
                api::get::<RoleBindingPage>(&format!("/tenants/{t}/role-bindings?limit=200"))
                    .await?;
            let users =
                api::get::<UserPage>(&format!("/tenants/{t}/users?limit=200&sort=email")).await?;
            Ok::<_, ApiError>(
                users
                    .items
                    .into_iter()
                    .filter(|u| {
                        bindings.items.iter().any(|b| {
                            b.role == "owner"
                                && b.subject_type == SubjectKind::User
                                && b.subject_id == u.id.0
                                && b.project_id.is_none()
                        })
                    })
                    .collect::<Vec<_>>(),
            )
        }
    });
    let error = RwSignal::new(None::<ApiError>);

    let set_enforced = move |on: bool| {
        let t = session.tenant();
        leptos::task::spawn_local(async move {
            match api::call(
                "PUT",
                &format!("/tenants/{t}/sso-policy"),
                Some(json!({ "enforced": on })),
            )
            .await
            {
                Ok(()) => {
                    error.set(None);
                    ui.ok(if on {
                        "SSO is now enforced"
                    } else {
                        "Passwords are allowed again"
                    });
                }
                Err(e) => {
                    ui.error(&e);
                    error.set(Some(e));
                }
            }
            policy.refetch();
        });
    };
    let toggle = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        if on {
            // The box shows the saved policy, not the click: unticked until
            // confirmed and saved. (Refetching here would drop the dialog's
            // callback along with the view that made it.)
            event_target::<web_sys::HtmlInputElement>(&ev).set_checked(false);
            ui.confirm(
                "Enforce single sign-on?",
                "Members can no longer sign in with a password, except the break-glass owners below. Open sessions stay.",
                move || set_enforced(true),
            );
        } else {
            set_enforced(false);
        }
    };
    let set_break_glass = move |user: String, on: bool| {
        let t = session.tenant();
        leptos::task::spawn_local(async move {
            let path = format!("/tenants/{t}/users/{user}/sso-break-glass");
            match api::call("PUT", &path, Some(json!({ "enabled": on }))).await {
                Ok(()) => ui.ok(if on {
                    "Break-glass granted"
                } else {
                    "Break-glass revoked"
                }),
                Err(e) => ui.error(&e),
            }
            policy.refetch();
        });
    };

    view! {
        <section class="card" aria-labelledby="enforce-title">
            <h2 id="enforce-title">"Enforced SSO"</h2>
            {move || match policy.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(p)) => {
                    let can_write = session.can("sso:write");
                    let can_owners = session.can("owners:write");
                    let chosen = p.break_glass_user_ids.clone();
                    view! {
                        <label class="check">
                            <input type="checkbox" name="enforced" prop:checked=p.enforced disabled=!can_write on:change=toggle/>
                            "Refuse passwords: members sign in through an SSO connection"
                        </label>
                        <FieldError error field="enforced"/>
                        <p class="hint">{format!("Last changed {}.", when_opt(&p.updated_at))}</p>
                        <h3>"Break-glass owners"</h3>
                        <p class="hint">"Owners who may still sign in with a password while SSO is enforced (each such sign-in is audited)."</p>
                        {move || match owners.get() {
                            None => view! { <Loading/> }.into_any(),
                            Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                            Some(Ok(list)) if list.is_empty() => view! { <Empty text="No owners."/> }.into_any(),
                            Some(Ok(list)) => {
                                let chosen = chosen.clone();
                                view! {
                                    <ul class="plain">
                                        {list.into_iter().map(|u| {
                                            let on = chosen.contains(&u.id);
                                            let id = u.id.to_string();
                                            view! {
                                                <li>
                                                    <label class="check">
                                                        <input type="checkbox" prop:checked=on disabled=!can_owners
                                                            on:change=move |ev| set_break_glass(id.clone(), event_target_checked(&ev))/>
                                                        {format!("{} ({})", u.display_name, u.email)}
                                                    </label>
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ul>
                                }.into_any()
                            }
                        }}
                    }.into_any()
                }
            }}
        </section>
    }
}
