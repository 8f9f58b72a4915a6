//! The form that adds an audit export destination: a directory under the
//! server's export directory or an S3-compatible bucket, showing the
//! fields of the chosen kind only (the API refuses the other kind's). The
//! secret access key is sent once and not kept in the page.

use ditto_types::api::{AuditExportDestination, AuditExportDestinationPage};
use leptos::prelude::*;
use serde_json::{Value, json};

use super::audit_exports::number;
use crate::api::{self, ApiError};
use crate::app::Session;
use crate::ui::{FieldError, FormError, Ui};

/// Text typed in a form: absent when empty.
fn text(s: &str) -> Option<Value> {
    let s = s.trim();
    (!s.is_empty()).then(|| json!(s))
}

#[component]
pub(super) fn DestinationForm(
    destinations: LocalResource<api::ApiResult<AuditExportDestinationPage>>,
) -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new("local".to_owned());
    let path = RwSignal::new(String::new());
    let endpoint = RwSignal::new(String::new());
    let bucket = RwSignal::new(String::new());
    let region = RwSignal::new(String::new());
    let access_key_id = RwSignal::new(String::new());
    let secret_access_key = RwSignal::new(String::new());
    let prefix = RwSignal::new(String::new());
    let schedule = RwSignal::new("none".to_owned());
    let max_bytes = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let s3 = move || kind.get() == "s3";

    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let kind = kind.get_untracked();
        let mut body = json!({
            "name": name.get_untracked().trim(),
            "kind": kind,
            "schedule": schedule.get_untracked(),
        });
        let mut fields = vec![("prefix", text(&prefix.get_untracked()))];
        if kind == "s3" {
            fields.extend([
                ("endpoint", text(&endpoint.get_untracked())),
                ("bucket", text(&bucket.get_untracked())),
                ("region", text(&region.get_untracked())),
                ("access_key_id", text(&access_key_id.get_untracked())),
                // As typed: a secret's spaces are the caller's to keep.
                (
                    "secret_access_key",
                    Some(secret_access_key.get_untracked())
                        .filter(|s| !s.is_empty())
                        .map(Value::from),
                ),
            ]);
        } else {
            fields.push(("path", text(&path.get_untracked())));
        }
        fields.push(("max_object_bytes", number(&max_bytes.get_untracked())));
        for (field, value) in fields {
            if let Some(value) = value {
                body[field] = value;
            }
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let url = format!("/tenants/{t}/audit/export-destinations");
            match api::post::<_, AuditExportDestination>(&url, &body).await {
                Ok(d) => {
                    ui.ok(format!("Destination “{}” created", d.name));
                    for s in [
                        name,
                        path,
                        endpoint,
                        bucket,
                        region,
                        access_key_id,
                        secret_access_key,
                        prefix,
                        max_bytes,
                    ] {
                        s.set(String::new());
                    }
                    error.set(None);
                    destinations.refetch();
                }
                Err(e) => {
                    // The secret is not kept in the page after a failure either.
                    secret_access_key.set(String::new());
                    error.set(Some(e));
                }
            }
            busy.set(false);
        });
    };

    view! {
        <form class="form-grid subcard" on:submit=create aria-label="New export destination">
            <label>
                "Name"
                <input name="destination-name" required maxlength="100" placeholder="Compliance archive" bind:value=name/>
                <FieldError error field="name"/>
            </label>
            <label>
                "Kind"
                <select name="kind" bind:value=kind>
                    <option value="local">"Directory on the server"</option>
                    <option value="s3">"S3-compatible bucket"</option>
                </select>
                <FieldError error field="kind"/>
            </label>
            <Show when=move || !s3()>
                <label>
                    "Directory"
                    <input name="path" placeholder="acme/audit" bind:value=path/>
                    <span class="hint">"Relative to this tenant’s place in the server’s export directory."</span>
                    <FieldError error field="path"/>
                </label>
            </Show>
            <Show when=s3>
                <label>
                    "Endpoint URL"
                    <input name="endpoint" type="url" placeholder="https://s3.example.com" bind:value=endpoint/>
                    <span class="hint">"Empty for AWS itself."</span>
                    <FieldError error field="endpoint"/>
                </label>
                <label>
                    "Bucket"
                    <input name="bucket" bind:value=bucket/>
                    <FieldError error field="bucket"/>
                </label>
                <label>
                    "Region"
                    <input name="region" placeholder="us-east-1" bind:value=region/>
                    <FieldError error field="region"/>
                </label>
                <label>
                    "Access key id"
                    <input name="access_key_id" autocomplete="off" bind:value=access_key_id/>
                    <FieldError error field="access_key_id"/>
                </label>
                <label>
                    "Secret access key"
                    <input name="secret_access_key" type="password" autocomplete="new-password" bind:value=secret_access_key/>
                    <span class="hint">"Write-only: stored encrypted, never shown again."</span>
                    <FieldError error field="secret_access_key"/>
                </label>
            </Show>
            <label>
                "Object name prefix"
                <input name="prefix" placeholder="audit/" bind:value=prefix/>
                <FieldError error field="prefix"/>
            </label>
            <label>
                "Schedule"
                <select name="schedule" bind:value=schedule>
                    <option value="none">"One-off runs only"</option>
                    <option value="hourly">"Hourly"</option>
                    <option value="daily">"Daily"</option>
                </select>
                <FieldError error field="schedule"/>
            </label>
            <label>
                "Largest object (bytes)"
                <input name="max_object_bytes" inputmode="numeric" placeholder="67108864" bind:value=max_bytes/>
                <FieldError error field="max_object_bytes"/>
            </label>
            <div class="form-foot">
                <FormError error/>
                <button type="submit" disabled=move || busy.get()>"Add destination"</button>
            </div>
        </form>
    }
    .into_any()
}
