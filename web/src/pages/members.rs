//! Members: the tenant's users and their role bindings; adding a person with
//! a role, granting and removing roles.

use std::collections::HashMap;

use ditto_types::api::{RoleBinding, RoleBindingPage, RoleList, User, UserPage};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::app::Session;
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui};

#[component]
pub fn Members() -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let users = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<UserPage>(&format!("/tenants/{t}/users?limit=200&sort=email")).await }
    });
    let bindings = LocalResource::new(move || {
        let t = session.tenant();
        async move {
            api::get::<RoleBindingPage>(&format!("/tenants/{t}/role-bindings?limit=200")).await
        }
    });
    let roles = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<RoleList>(&format!("/tenants/{t}/roles")).await }
    });
    let email = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let role = RwSignal::new("viewer".to_owned());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);

    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let body = json!({ "email": email.get_untracked().trim(), "display_name": display_name.get_untracked().trim() });
        let role = role.get_untracked();
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = async {
                let user = api::post::<_, User>(&format!("/tenants/{t}/users"), &body).await?;
                let grant = json!({ "role": role, "subject_type": "user", "subject_id": user.id });
                api::post::<_, RoleBinding>(&format!("/tenants/{t}/role-bindings"), &grant).await?;
                Ok::<_, ApiError>(user)
            }
            .await;
            match result {
                Ok(user) => {
                    ui.ok(format!("{} added as {role}", user.email));
                    email.set(String::new());
                    display_name.set(String::new());
                    error.set(None);
                    users.refetch();
                    bindings.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    let remove = move |b: RoleBinding, who: String| {
        let t = session.tenant();
        ui.confirm(
            format!("Remove role “{}” from {who}?", b.role),
            "They lose what the role allows at their next request.",
            move || {
                let t = t.clone();
                let id = b.id;
                leptos::task::spawn_local(async move {
                    match api::call("DELETE", &format!("/tenants/{t}/role-bindings/{id}"), None)
                        .await
                    {
                        Ok(()) => {
                            ui.ok("Role removed");
                            bindings.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    let grant = move |user: String, email: String, role: String| {
        let t = session.tenant();
        leptos::task::spawn_local(async move {
            let body = json!({ "role": role, "subject_type": "user", "subject_id": user });
            match api::post::<_, RoleBinding>(&format!("/tenants/{t}/role-bindings"), &body).await {
                Ok(_) => {
                    ui.ok(format!("{email} is now also {role}"));
                    bindings.refetch();
                }
                Err(e) => ui.error(&e),
            }
        });
    };

    view! {
        <div class="page-head">
            <h1>"Members"</h1>
            <p class="lede">"People in this tenant and the roles they hold."</p>
        </div>
        <Show when=move || session.can("users:write") && session.can("role_bindings:write")>
            <form class="card form-row" on:submit=add aria-label="Add a member">
                <label class="grow">
                    "Email"
                    <input name="member-email" type="email" required bind:value=email/>
                    <FieldError error field="email"/>
                </label>
                <label>
                    "Name"
                    <input name="member-name" bind:value=display_name/>
                    <FieldError error field="display_name"/>
                </label>
                <label>
                    "Role"
                    <select name="member-role" bind:value=role>
                        // Marked selected here: the options arrive after the
                        // select's value was set.
                        {move || roles.get().and_then(Result::ok).map(|r| r.items.into_iter().map(|r| {
                            let selected = r.name == role.get_untracked();
                            view! { <option value=r.name.clone() selected=selected>{r.name.clone()}</option> }
                        }).collect_view())}
                    </select>
                    <FieldError error field="role"/>
                </label>
                <button type="submit" disabled=move || busy.get()>"Add member"</button>
                <FormError error/>
            </form>
        </Show>
        {move || match (users.get(), bindings.get()) {
            (Some(Err(e)), _) | (_, Some(Err(e))) => view! { <Failed error=e/> }.into_any(),
            (Some(Ok(users)), Some(Ok(bindings))) => {
                if users.items.is_empty() {
                    return view! { <Empty text="No members yet."/> }.into_any();
                }
                let can_write = session.can("role_bindings:write");
                let role_names: Vec<String> = roles
                    .get()
                    .and_then(Result::ok)
                    .map(|r| r.items.into_iter().map(|r| r.name).collect())
                    .unwrap_or_default();
                let mut by_subject: HashMap<String, Vec<RoleBinding>> = HashMap::new();
                for b in bindings.items {
                    by_subject.entry(b.subject_id.to_string()).or_default().push(b);
                }
                view! {
                    <table class="table">
                        <thead><tr><th>"Email"</th><th>"Name"</th><th>"Status"</th><th>"Roles"</th></tr></thead>
                        <tbody>
                            {users.items.into_iter().map(|u| {
                                let held = by_subject.remove(&u.id.to_string()).unwrap_or_default();
                                let grantable: Vec<String> = role_names
                                    .iter()
                                    .filter(|r| !held.iter().any(|b| b.role == **r && b.project_id.is_none()))
                                    .cloned()
                                    .collect();
                                let (uid, email) = (u.id.to_string(), u.email.clone());
                                let who = u.email.clone();
                                let status = u.status.as_str();
                                view! {
                                    <tr>
                                        <td class="strong">{u.email.clone()}</td>
                                        <td>{u.display_name.clone()}</td>
                                        <td><span class=format!("badge badge-{status}")>{status}</span></td>
                                        <td><div class="chips">
                                            {held.into_iter().map(|b| {
                                                let who = who.clone();
                                                let label = format!("Remove {} from {}", b.role, who);
                                                let role = b.role.clone();
                                                view! {
                                                    <span class="chip">{role}
                                                        {can_write.then(|| view! {
                                                            <button class="chip-x" aria-label=label on:click=move |_| remove(b.clone(), who.clone())>"×"</button>
                                                        })}
                                                    </span>
                                                }
                                            }).collect_view()}
                                            {(can_write && !grantable.is_empty()).then(|| view! {
                                                // Back to "+ role" whenever the row is drawn again.
                                                <select class="add-role" aria-label=format!("Add a role to {email}") prop:value=""
                                                    on:change=move |ev| {
                                                        let role = event_target_value(&ev);
                                                        if !role.is_empty() {
                                                            grant(uid.clone(), email.clone(), role);
                                                        }
                                                    }>
                                                    <option value="">"+ role"</option>
                                                    {grantable.into_iter().map(|r| { let text = r.clone(); view! { <option value=r>{text}</option> } }).collect_view()}
                                                </select>
                                            })}
                                        </div></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }
            _ => view! { <Loading/> }.into_any(),
        }}
    }
}
