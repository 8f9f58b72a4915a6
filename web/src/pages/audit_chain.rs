//! The audit page's chain tab: what the last verification walked (from which
//! anchor, how many events, which signing keys) or where it broke, and the
//! signed checkpoints, with a button to sign one at the chain's head now.

use ditto_types::api::{AuditCheckpoint, AuditVerification};
use leptos::prelude::*;

use crate::api::{self, ApiResult};
use crate::app::Session;
use crate::ui::{Empty, Failed, Loading, Ui, when};

#[component]
pub fn AuditChain(verification: LocalResource<ApiResult<AuditVerification>>) -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let checkpoints = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<Vec<AuditCheckpoint>>(&format!("/tenants/{t}/audit/checkpoints")).await }
    });
    let busy = RwSignal::new(false);
    let sign = move |_| {
        let t = session.tenant();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let url = format!("/tenants/{t}/audit/checkpoints");
            match api::post::<_, AuditCheckpoint>(&url, &serde_json::json!({})).await {
                Ok(c) => {
                    ui.ok(format!("Checkpoint signed at #{}", c.seq));
                    checkpoints.refetch();
                    verification.refetch();
                }
                Err(e) => ui.error(&e),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="card" aria-labelledby="chain-title">
            <div class="section-head">
                <h2 id="chain-title">"Chain verification"</h2>
                <button class="secondary small" on:click=move |_| verification.refetch()>"Verify again"</button>
            </div>
            {move || match verification.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(v)) => {
                    let anchor = v.anchor.as_ref().map_or_else(
                        || "the chain's beginning".to_owned(),
                        |c| format!("checkpoint #{} of {} ({})", c.seq, when(&c.created_at), c.reason),
                    );
                    let keys = if v.checkpoint_keys.is_empty() {
                        "none yet".to_owned()
                    } else {
                        v.checkpoint_keys.join(", ")
                    };
                    view! {
                        <dl class="facts" data-testid="verification">
                            <dt>"Result"</dt>
                            <dd>{if v.valid {
                                view! { <span class="badge badge-active">"valid"</span> }.into_any()
                            } else {
                                view! { <span class="badge badge-revoked">"broken"</span> }.into_any()
                            }}</dd>
                            <dt>"From"</dt><dd>{anchor}</dd>
                            <dt>"Verified through"</dt><dd>{format!("#{}", v.verified_through)}</dd>
                            <dt>"Events checked"</dt><dd>{v.checked}</dd>
                            <dt>"Signing keys"</dt><dd><code>{keys}</code></dd>
                            {v.broken.map(|b| view! {
                                <dt>"Broken at"</dt>
                                <dd class="field-error">{format!("#{}: {}", b.seq, b.reason)}</dd>
                            })}
                        </dl>
                    }.into_any()
                }
            }}
        </section>
        <section class="card" aria-labelledby="checkpoints-title">
            <div class="section-head">
                <h2 id="checkpoints-title">"Checkpoints"</h2>
                <Show when=move || session.can("audit:export")>
                    <button class="small" disabled=move || busy.get() on:click=sign>"Sign a checkpoint now"</button>
                </Show>
            </div>
            <p class="hint">"Signed statements of the chain's head; retention keeps one so the rest still verifies. The latest 100."</p>
            {move || match checkpoints.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <Empty text="No checkpoints yet."/> }.into_any(),
                Some(Ok(list)) => view! {
                    <table class="table">
                        <thead><tr><th>"Signed"</th><th class="num">"At #"</th><th>"Why"</th><th>"Key"</th><th>"Hash"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|c| view! {
                                <tr>
                                    <td class="muted nowrap">{when(&c.created_at)}</td>
                                    <td class="num">{c.seq}</td>
                                    <td>{c.reason.clone()}</td>
                                    <td><code>{c.key_id.clone()}</code></td>
                                    <td><code title=c.hash.clone()>{c.hash.chars().take(16).collect::<String>()}"…"</code></td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
    .into_any()
}
