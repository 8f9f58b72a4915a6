//! The audit page's export tab: where the tenant's audit trail is exported
//! (S3-compatible buckets or directories under the server's export
//! directory; secret access keys are write-only) and the export runs, with
//! a form to start one. Runs still pending or running are polled.

use ditto_types::api::{
    AuditExportDestination, AuditExportDestinationPage, AuditExportKind, AuditExportRun,
    AuditExportRunPage, AuditExportSchedule, AuditExportStatus,
};
use leptos::prelude::*;
use serde_json::{Value, json};

use super::audit_export_form::DestinationForm;
use crate::api::{self, ApiError};
use crate::app::Session;
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui, when, when_opt};

/// How often runs in progress are looked at again.
const POLL_MS: u64 = 1500;

/// A number typed in a form: absent when empty; what is not a number is
/// sent as typed, so the API's answer names the field.
pub(super) fn number(s: &str) -> Option<Value> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    Some(s.parse::<i64>().map_or_else(|_| json!(s), |n| json!(n)))
}

fn schedule_name(s: AuditExportSchedule) -> &'static str {
    match s {
        AuditExportSchedule::None => "none",
        AuditExportSchedule::Hourly => "hourly",
        AuditExportSchedule::Daily => "daily",
    }
}

fn status_badge(s: AuditExportStatus) -> (&'static str, &'static str) {
    match s {
        AuditExportStatus::Pending => ("badge", "pending"),
        AuditExportStatus::Running => ("badge badge-expired", "running"),
        AuditExportStatus::Succeeded => ("badge badge-active", "succeeded"),
        AuditExportStatus::Failed => ("badge badge-revoked", "failed"),
    }
}

/// Where a destination writes, in one line.
fn place(d: &AuditExportDestination) -> String {
    let prefix = if d.prefix.is_empty() {
        String::new()
    } else {
        format!(" (prefix {})", d.prefix)
    };
    match d.kind {
        AuditExportKind::Local => {
            format!("directory {}{prefix}", d.path.clone().unwrap_or_default())
        }
        AuditExportKind::S3 => format!(
            "s3://{} at {}{prefix}",
            d.bucket.clone().unwrap_or_default(),
            d.endpoint.clone().unwrap_or_else(|| "AWS".into())
        ),
    }
}

#[component]
pub fn AuditExports() -> impl IntoView {
    let session = Session::get();
    let destinations = LocalResource::new(move || {
        let t = session.tenant();
        async move {
            api::get::<AuditExportDestinationPage>(&format!(
                "/tenants/{t}/audit/export-destinations?limit=200"
            ))
            .await
        }
    });
    let runs = LocalResource::new(move || {
        let t = session.tenant();
        async move {
            api::get::<AuditExportRunPage>(&format!("/tenants/{t}/audit/exports?limit=25")).await
        }
    });
    // Polls while a run is pending or running; each answer schedules the next look.
    Effect::new(move |_| {
        let busy = runs.get().and_then(Result::ok).is_some_and(|p| {
            p.items.iter().any(|r| {
                matches!(
                    r.status,
                    AuditExportStatus::Pending | AuditExportStatus::Running
                )
            })
        });
        if busy {
            set_timeout(
                move || runs.refetch(),
                std::time::Duration::from_millis(POLL_MS),
            );
        }
    });
    view! {
        <Destinations destinations runs/>
        <Runs destinations runs/>
    }
    .into_any()
}

#[component]
fn Destinations(
    destinations: LocalResource<api::ApiResult<AuditExportDestinationPage>>,
    runs: LocalResource<api::ApiResult<AuditExportRunPage>>,
) -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let delete = move |d: AuditExportDestination| {
        let t = session.tenant();
        ui.confirm(
            format!("Delete destination “{}”?", d.name),
            "Its runs are forgotten and no more are scheduled; what it already received stays where it is.",
            move || {
                let (t, id, name) = (t.clone(), d.id, d.name.clone());
                leptos::task::spawn_local(async move {
                    let path = format!("/tenants/{t}/audit/export-destinations/{id}");
                    match api::call("DELETE", &path, None).await {
                        Ok(()) => {
                            ui.ok(format!("Destination “{name}” deleted"));
                            destinations.refetch();
                            runs.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };
    view! {
        <section class="card" aria-labelledby="export-destinations-title">
            <h2 id="export-destinations-title">"Export destinations"</h2>
            <p class="hint">"Where the audit trail is written as JSONL objects with a manifest. Secret access keys are stored encrypted and never shown again."</p>
            <Show when=move || session.can("audit:manage")>
                <DestinationForm destinations/>
            </Show>
            {move || match destinations.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No export destinations yet."/> }.into_any(),
                Some(Ok(page)) => {
                    let can_manage = session.can("audit:manage");
                    view! {
                        <table class="table">
                            <thead><tr><th>"Name"</th><th>"Where"</th><th>"Schedule"</th><th class="num">"Exported through"</th><th>"Secret"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {page.items.into_iter().map(|d| {
                                    let label = format!("Delete destination {}", d.name);
                                    let next = match d.schedule {
                                        AuditExportSchedule::None => "one-off runs only".to_owned(),
                                        s => format!("{}, next {}", schedule_name(s), when_opt(&d.next_run_at)),
                                    };
                                    let secret = match d.kind {
                                        AuditExportKind::S3 if d.has_secret_access_key => "stored",
                                        AuditExportKind::S3 => "missing",
                                        AuditExportKind::Local => "—",
                                    };
                                    let gone = d.clone();
                                    view! {
                                        <tr data-destination=d.name.clone()>
                                            <td class="strong">{d.name.clone()}</td>
                                            <td>{place(&d)}</td>
                                            <td class="muted">{next}</td>
                                            <td class="num">{format!("#{}", d.exported_through)}</td>
                                            <td class="muted">{secret}</td>
                                            <td class="row-actions">
                                                {can_manage.then(|| view! {
                                                    <button class="danger small" aria-label=label on:click=move |_| delete(gone.clone())>"Delete"</button>
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
    .into_any()
}

#[component]
fn Runs(
    destinations: LocalResource<api::ApiResult<AuditExportDestinationPage>>,
    runs: LocalResource<api::ApiResult<AuditExportRunPage>>,
) -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let destination = RwSignal::new(String::new());
    let from_seq = RwSignal::new(String::new());
    let to_seq = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let names = move || {
        destinations
            .get()
            .and_then(Result::ok)
            .map(|p| p.items)
            .unwrap_or_default()
    };
    // The select shows a destination that exists: the first until one is
    // picked, and again when the picked one is deleted.
    Effect::new(move |_| {
        let list = names();
        let current = destination.get_untracked();
        if !list.iter().any(|d| d.id.to_string() == current) {
            destination.set(list.first().map(|d| d.id.to_string()).unwrap_or_default());
        }
    });
    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let mut body = json!({ "destination_id": destination.get_untracked() });
        for (field, value) in [("from_seq", from_seq), ("to_seq", to_seq)] {
            if let Some(v) = number(&value.get_untracked()) {
                body[field] = v;
            }
        }
        leptos::task::spawn_local(async move {
            let url = format!("/tenants/{t}/audit/exports");
            match api::post::<_, AuditExportRun>(&url, &body).await {
                Ok(run) => {
                    ui.ok(format!(
                        "Export of #{}–#{} started",
                        run.from_seq, run.to_seq
                    ));
                    from_seq.set(String::new());
                    to_seq.set(String::new());
                    error.set(None);
                    runs.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let destination_name = move |id: uuid::Uuid| {
        names()
            .into_iter()
            .find(|d| d.id == id)
            .map(|d| d.name)
            .unwrap_or_else(|| id.to_string().chars().take(8).collect())
    };

    view! {
        <section class="card" aria-labelledby="export-runs-title">
            <div class="section-head">
                <h2 id="export-runs-title">"Export runs"</h2>
                <button class="secondary small" on:click=move |_| runs.refetch()>"Refresh runs"</button>
            </div>
            <Show when=move || session.can("audit:export") && !names().is_empty()>
                <form class="form-row" on:submit=start aria-label="Start an export">
                    <label>
                        "Destination"
                        <select name="destination" bind:value=destination>
                            {move || names().into_iter().map(|d| view! {
                                <option value=d.id.to_string()>{d.name}</option>
                            }).collect_view()}
                        </select>
                        <FieldError error field="destination_id"/>
                    </label>
                    <label>
                        "From #"
                        <input name="from_seq" inputmode="numeric" placeholder="oldest kept" bind:value=from_seq/>
                        <FieldError error field="from_seq"/>
                    </label>
                    <label>
                        "To #"
                        <input name="to_seq" inputmode="numeric" placeholder="newest" bind:value=to_seq/>
                        <FieldError error field="to_seq"/>
                    </label>
                    <button type="submit">"Start export"</button>
                    <FormError error/>
                </form>
            </Show>
            {move || match runs.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No exports yet."/> }.into_any(),
                Some(Ok(page)) => view! {
                    <table class="table">
                        <thead><tr><th>"Started"</th><th>"Destination"</th><th>"Status"</th><th>"Events"</th><th class="num">"Rows"</th><th>"Objects"</th><th>"Finished"</th></tr></thead>
                        <tbody>
                            {page.items.into_iter().map(|r| {
                                let (badge, label) = status_badge(r.status);
                                let destination = r.destination_id;
                                let objects = match r.objects.len() {
                                    1 => "1 object".to_owned(),
                                    n => format!("{n} objects"),
                                };
                                let names = r.objects.iter().map(|o| o.name.clone())
                                    .chain(r.manifest.clone())
                                    .collect::<Vec<_>>()
                                    .join("\n");
                                view! {
                                    <tr>
                                        <td class="muted nowrap">{when(&r.created_at)}</td>
                                        <td class="strong">{move || destination_name(destination)}</td>
                                        <td>
                                            <span class=badge>{label}</span>
                                            <span class="muted">{format!(" {}", r.trigger)}</span>
                                            {r.error.clone().map(|e| view! { <div class="field-error">{e}</div> })}
                                        </td>
                                        <td class="nowrap">{format!("#{}–#{}", r.from_seq, r.to_seq)}</td>
                                        <td class="num">{r.rows}</td>
                                        <td class="nowrap" title=names>
                                            {objects}
                                            {r.manifest.is_some().then(|| view! { <span class="muted">" + manifest"</span> })}
                                        </td>
                                        <td class="muted nowrap">{when_opt(&r.finished_at)}</td>
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
