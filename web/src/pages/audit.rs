//! The audit log: filters, the events newest first, a drawer with one
//! event's details, and whether the chain verifies; tabs for the chain's
//! verification and checkpoints, and for exports.

use ditto_types::api::{AuditEvent, AuditEventPage, AuditVerification};
use leptos::prelude::*;

use super::audit_chain::AuditChain;
use super::audit_exports::AuditExports;
use crate::api::{self, enc};
use crate::app::Session;
use crate::ui::{Empty, Failed, Loading, on_escape, when};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Events,
    Chain,
    Exports,
}

const TABS: &[(Tab, &str)] = &[
    (Tab::Events, "Events"),
    (Tab::Chain, "Chain and checkpoints"),
    (Tab::Exports, "Exports"),
];

#[component]
pub fn Audit() -> impl IntoView {
    let session = Session::get();
    let tab = RwSignal::new(Tab::Events);
    let action = RwSignal::new(String::new());
    let target_type = RwSignal::new(String::new());
    // The filters applied, set when the form is submitted.
    let applied = RwSignal::new((String::new(), String::new()));
    let open = RwSignal::new(None::<AuditEvent>);
    on_escape(move || open.set(None));
    // The page shown: None is the newest.
    let cursor = RwSignal::new(None::<String>);
    let events = LocalResource::new(move || {
        let t = session.tenant();
        let (action, target_type) = applied.get();
        let cursor = cursor.get();
        async move {
            let mut path = format!("/tenants/{t}/audit?limit=50");
            if let Some(cursor) = cursor {
                path.push_str(&format!("&cursor={}", enc(&cursor)));
            }
            if !action.is_empty() {
                path.push_str(&format!("&action={}", enc(&action)));
            }
            if !target_type.is_empty() {
                path.push_str(&format!("&target_type={}", enc(&target_type)));
            }
            api::get::<AuditEventPage>(&path).await
        }
    });
    let verification = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<AuditVerification>(&format!("/tenants/{t}/audit/verification")).await }
    });
    let filter = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        applied.set((
            action.get_untracked().trim().to_owned(),
            target_type.get_untracked().trim().to_owned(),
        ));
    };

    view! {
        <div class="page-head">
            <h1>"Audit log"</h1>
            <p class="lede">
                "Every change in this tenant, in a hash chain. "
                {move || verification.get().map(|v| match v {
                    Ok(v) if v.valid => view! {
                        <span class="badge badge-active">{format!("chain verified through #{}", v.verified_through)}</span>
                    }.into_any(),
                    Ok(_) => view! { <span class="badge badge-revoked">"chain broken"</span> }.into_any(),
                    Err(_) => view! { <span class="badge">"verification unavailable"</span> }.into_any(),
                })}
            </p>
        </div>
        <div class="tabs" role="tablist" aria-label="Audit">
            {TABS.iter().map(|(t, label)| {
                let t = *t;
                view! {
                    <button role="tab" class="tab" aria-selected=move || (tab.get() == t).to_string()
                        on:click=move |_| tab.set(t)>{*label}</button>
                }
            }).collect_view()}
        </div>
        <Show when=move || tab.get() == Tab::Chain>
            <AuditChain verification/>
        </Show>
        <Show when=move || tab.get() == Tab::Exports>
            <AuditExports/>
        </Show>
        <Show when=move || tab.get() == Tab::Events>
        <form class="card form-row" on:submit=filter aria-label="Filter events">
            <label>
                "Action"
                <input name="action" placeholder="api_keys.create" bind:value=action/>
            </label>
            <label>
                "Target type"
                <input name="target_type" placeholder="api_key" bind:value=target_type/>
            </label>
            <button type="submit" class="secondary">"Apply filters"</button>
        </form>
        {move || match events.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
            Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No events match."/> }.into_any(),
            Some(Ok(page)) => {
                let older = page.next_cursor.clone();
                view! {
                <table class="table clickable">
                    <thead><tr><th>"When"</th><th>"Action"</th><th>"Actor"</th><th>"Target"</th><th>"#"</th></tr></thead>
                    <tbody>
                        {page.items.into_iter().map(|e| {
                            let event = e.clone();
                            view! {
                                <tr tabindex="0" on:click=move |_| open.set(Some(event.clone()))
                                    on:keydown={
                                        let event = e.clone();
                                        move |k: leptos::ev::KeyboardEvent| if k.key() == "Enter" { open.set(Some(event.clone())) }
                                    }>
                                    <td class="muted nowrap">{when(&e.created_at)}</td>
                                    <td><code>{e.action.clone()}</code></td>
                                    <td>{format!("{} {}", e.actor_type, e.actor_id.map(|i| short(&i.to_string())).unwrap_or_default())}</td>
                                    <td>{format!("{} {}", e.target_type, e.target_id.clone().map(|i| short(&i)).unwrap_or_default())}</td>
                                    <td class="muted">{e.seq}</td>
                                </tr>
                            }
                        }).collect_view()}
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
        </Show>
        {move || open.get().map(|e| view! {
            <div class="backdrop" on:click=move |_| open.set(None)></div>
            <aside class="drawer" role="dialog" aria-modal="true" aria-labelledby="event-title">
                <div class="drawer-head">
                    <h2 id="event-title"><code>{e.action.clone()}</code></h2>
                    <button class="secondary small" on:click=move |_| open.set(None) autofocus>"Close"</button>
                </div>
                <dl class="facts">
                    <dt>"When"</dt><dd>{e.created_at.to_rfc3339()}</dd>
                    <dt>"Sequence"</dt><dd>{e.seq}</dd>
                    <dt>"Actor"</dt><dd>{format!("{} {}", e.actor_type, e.actor_id.map(|i| i.to_string()).unwrap_or_default())}</dd>
                    <dt>"Target"</dt><dd>{format!("{} {}", e.target_type, e.target_id.clone().unwrap_or_default())}</dd>
                    <dt>"Request"</dt><dd>{e.request_id.clone().unwrap_or_default()}</dd>
                    <dt>"From"</dt><dd>{format!("{} {}", e.source_ip.clone().unwrap_or_default(), e.user_agent.clone().unwrap_or_default())}</dd>
                    <dt>"Hash"</dt><dd><code class="wrap">{e.hash.clone()}</code></dd>
                </dl>
                {e.before.as_ref().map(|v| view! { <h3>"Before"</h3><pre>{pretty(v)}</pre> })}
                {e.after.as_ref().map(|v| view! { <h3>"After"</h3><pre>{pretty(v)}</pre> })}
            </aside>
        })}
    }
    .into_any()
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}
