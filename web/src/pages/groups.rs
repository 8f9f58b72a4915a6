//! Groups: a tenant's groups of users, their members and the roles bound to
//! them (a group's roles apply to each of its members).

use ditto_types::api::{
    Group, GroupMemberPage, GroupPage, RoleBinding, RoleBindingPage, RoleList, SubjectKind,
    UserPage,
};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::app::Session;
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui};

/// Groups shown per page; the API pages with a cursor.
const PAGE: usize = 50;

#[component]
pub fn Groups() -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    // The cursors of the pages before this one, and this page's.
    let previous = RwSignal::new(Vec::<Option<String>>::new());
    let cursor = RwSignal::new(None::<String>);
    let groups = LocalResource::new(move || {
        let t = session.tenant();
        let after = cursor
            .get()
            .map(|c| format!("&cursor={}", api::enc(&c)))
            .unwrap_or_default();
        async move { api::get::<GroupPage>(&format!("/tenants/{t}/groups?limit={PAGE}{after}")).await }
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
    let selected = RwSignal::new(None::<Group>);
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);

    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let body = json!({ "name": name.get_untracked().trim() });
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::post::<_, Group>(&format!("/tenants/{t}/groups"), &body).await {
                Ok(g) => {
                    ui.ok(format!("Group “{}” created", g.name));
                    name.set(String::new());
                    error.set(None);
                    groups.refetch();
                    selected.set(Some(g));
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    let delete = move |g: Group| {
        let t = session.tenant();
        ui.confirm(
            format!("Delete group “{}”?", g.name),
            "Its members lose the roles bound to the group at their next request.",
            move || {
                let (t, id, gname) = (t.clone(), g.id, g.name.clone());
                leptos::task::spawn_local(async move {
                    match api::call("DELETE", &format!("/tenants/{t}/groups/{id}"), None).await {
                        Ok(()) => {
                            ui.ok(format!("Group “{gname}” deleted"));
                            if selected.get_untracked().is_some_and(|s| s.id == id) {
                                selected.set(None);
                            }
                            groups.refetch();
                            bindings.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    view! {
        <div class="page-head">
            <h1>"Groups"</h1>
            <p class="lede">"Groups of people; a role bound to a group applies to each of its members."</p>
        </div>
        {move || session.can("users:write").then(|| view! {
            <form class="card form-row" on:submit=create aria-label="Create a group">
                <label class="grow">
                    "Group name"
                    <input name="group-name" required maxlength="200" bind:value=name/>
                    <FieldError error field="name"/>
                </label>
                <button type="submit" disabled=move || busy.get()>"Create group"</button>
                <FormError error/>
            </form>
        }.into_any())}
        {move || match (groups.get(), bindings.get()) {
            (Some(Err(e)), _) => view! { <Failed error=e/> }.into_any(),
            (Some(Ok(page)), b) => {
                if page.items.is_empty() && previous.with(Vec::is_empty) {
                    return view! { <Empty text="No groups yet."/> }.into_any();
                }
                let bound: Vec<RoleBinding> = b
                    .and_then(Result::ok)
                    .map(|p| p.items.into_iter().filter(|b| b.subject_type == SubjectKind::Group).collect())
                    .unwrap_or_default();
                let can_write = session.can("users:write");
                let next = page.next_cursor.clone();
                view! {
                    <table class="table">
                        <thead><tr><th>"Name"</th><th class="num">"Members"</th><th>"Roles"</th><th>"From"</th><th></th></tr></thead>
                        <tbody>
                            {page.items.into_iter().map(|g| {
                                let roles: Vec<String> = bound
                                    .iter()
                                    .filter(|b| b.subject_id.to_string() == g.id.to_string())
                                    .map(|b| b.role.clone())
                                    .collect();
                                let source = if g.external_id.is_some() { "identity provider" } else { "console or API" };
                                let (manage, remove) = (g.clone(), g.clone());
                                let name = g.name.clone();
                                view! {
                                    <tr class:selected=move || selected.with(|s| s.as_ref().is_some_and(|s| s.id == g.id))>
                                        <td class="strong">{g.name.clone()}</td>
                                        <td class="num">{g.member_count}</td>
                                        <td><div class="chips">{roles.into_iter().map(|r| view! { <span class="chip chip-plain">{r}</span> }).collect_view()}</div></td>
                                        <td class="muted">{source}</td>
                                        <td class="row-actions">
                                            <button class="secondary small" aria-label=format!("Manage {name}") on:click=move |_| selected.set(Some(manage.clone()))>"Manage"</button>
                                            {can_write.then(|| view! {
                                                <button class="danger small" aria-label=format!("Delete {name}") on:click=move |_| delete(remove.clone())>"Delete"</button>
                                            })}
                                        </td>
                                    </tr>
                                }.into_any()
                            }).collect_view()}
                        </tbody>
                    </table>
                    <div class="pager">
                        <button class="secondary small" disabled=move || previous.with(Vec::is_empty)
                            on:click=move |_| {
                                let back = previous.try_update(|p| p.pop()).flatten().flatten();
                                cursor.set(back);
                            }>"Previous page"</button>
                        <button class="secondary small" disabled=next.is_none()
                            on:click=move |_| {
                                let now = cursor.get_untracked();
                                previous.update(|p| p.push(now));
                                cursor.set(next.clone());
                            }>"Next page"</button>
                    </div>
                }.into_any()
            }
            _ => view! { <Loading/> }.into_any(),
        }}
        {move || selected.get().map(|g| view! {
            <GroupDetail group=g bindings roles on_change=move || { groups.refetch(); bindings.refetch(); }/>
        }.into_any())}
    }
}

/// One group's members and role bindings.
#[component]
fn GroupDetail(
    group: Group,
    bindings: LocalResource<api::ApiResult<RoleBindingPage>>,
    roles: LocalResource<api::ApiResult<RoleList>>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let gid = group.id;
    let members = LocalResource::new(move || {
        let t = session.tenant();
        async move {
            api::get::<GroupMemberPage>(&format!("/tenants/{t}/groups/{gid}/members?limit=200"))
                .await
        }
    });
    let users = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<UserPage>(&format!("/tenants/{t}/users?limit=200&sort=email")).await }
    });
    let pick = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);

    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let user = pick.get_untracked();
        if user.is_empty() {
            return;
        }
        leptos::task::spawn_local(async move {
            let body = json!({ "user_id": user });
            match api::call(
                "POST",
                &format!("/tenants/{t}/groups/{gid}/members"),
                Some(body),
            )
            .await
            {
                Ok(()) => {
                    ui.ok("Member added");
                    pick.set(String::new());
                    error.set(None);
                    members.refetch();
                    on_change();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let remove = move |user: String, email: String| {
        let t = session.tenant();
        ui.confirm(
            format!("Remove {email} from the group?"),
            "They lose the group's roles at their next request.",
            move || {
                let (t, user) = (t.clone(), user.clone());
                leptos::task::spawn_local(async move {
                    match api::call(
                        "DELETE",
                        &format!("/tenants/{t}/groups/{gid}/members/{user}"),
                        None,
                    )
                    .await
                    {
                        Ok(()) => {
                            ui.ok("Member removed");
                            members.refetch();
                            on_change();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };
    let grant = move |role: String| {
        let t = session.tenant();
        leptos::task::spawn_local(async move {
            let body = json!({ "role": role, "subject_type": "group", "subject_id": gid });
            match api::post::<_, RoleBinding>(&format!("/tenants/{t}/role-bindings"), &body).await {
                Ok(_) => {
                    ui.ok(format!("Role {role} granted to the group"));
                    on_change();
                }
                Err(e) => ui.error(&e),
            }
        });
    };
    let revoke = move |b: RoleBinding| {
        let t = session.tenant();
        ui.confirm(
            format!("Remove role “{}” from the group?", b.role),
            "Its members lose what the role allows at their next request.",
            move || {
                let (t, id) = (t.clone(), b.id);
                leptos::task::spawn_local(async move {
                    match api::call("DELETE", &format!("/tenants/{t}/role-bindings/{id}"), None)
                        .await
                    {
                        Ok(()) => {
                            ui.ok("Role removed");
                            on_change();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    let title = format!("Group “{}”", group.name);
    let label = title.clone();
    view! {
        <section class="card group-detail" aria-label=label>
            <h2>{title}</h2>
            <h3>"Roles"</h3>
            {move || {
                let held: Vec<RoleBinding> = bindings
                    .get()
                    .and_then(Result::ok)
                    .map(|p| p.items.into_iter().filter(|b| b.subject_type == SubjectKind::Group && b.subject_id.to_string() == gid.to_string()).collect())
                    .unwrap_or_default();
                let can_bind = session.can("role_bindings:write");
                let grantable: Vec<String> = roles
                    .get()
                    .and_then(Result::ok)
                    .map(|r| r.items.into_iter().map(|r| r.name).filter(|n| !held.iter().any(|b| b.role == *n && b.project_id.is_none())).collect())
                    .unwrap_or_default();
                view! {
                    <div class="chips">
                        {held.is_empty().then(|| view! { <span class="muted">"No roles yet."</span> })}
                        {held.into_iter().map(|b| {
                            let label = format!("Remove {} from the group", b.role);
                            let role = b.role.clone();
                            view! {
                                <span class="chip">{role}
                                    {can_bind.then(|| view! {
                                        <button class="chip-x" aria-label=label on:click=move |_| revoke(b.clone())>"×"</button>
                                    })}
                                </span>
                            }
                        }).collect_view()}
                        {(can_bind && !grantable.is_empty()).then(|| view! {
                            <select class="add-role" aria-label="Grant a role to the group" prop:value=""
                                on:change=move |ev| {
                                    let role = event_target_value(&ev);
                                    if !role.is_empty() {
                                        grant(role);
                                    }
                                }>
                                <option value="">"+ role"</option>
                                {grantable.into_iter().map(|r| { let text = r.clone(); view! { <option value=r>{text}</option> } }).collect_view()}
                            </select>
                        })}
                    </div>
                }.into_any()
            }}
            <h3>"Members"</h3>
            {move || match members.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) => {
                    let can_write = session.can("users:write");
                    let inside: Vec<String> = page.items.iter().map(|m| m.user_id.to_string()).collect();
                    let candidates: Vec<(String, String)> = users
                        .get()
                        .and_then(Result::ok)
                        .map(|u| u.items.into_iter().filter(|u| !inside.contains(&u.id.to_string())).map(|u| (u.id.to_string(), u.email)).collect())
                        .unwrap_or_default();
                    view! {
                        {can_write.then(|| view! {
                            <form class="form-row" on:submit=add aria-label="Add a member to the group">
                                <label class="grow">
                                    "Person"
                                    <select name="group-member" bind:value=pick>
                                        <option value="">"Choose a person…"</option>
                                        {candidates.into_iter().map(|(id, email)| view! { <option value=id>{email}</option> }).collect_view()}
                                    </select>
                                    <FieldError error field="user_id"/>
                                </label>
                                <button type="submit" disabled=move || pick.with(String::is_empty)>"Add to group"</button>
                                <FormError error/>
                            </form>
                        }.into_any())}
                        {if page.items.is_empty() {
                            view! { <Empty text="No members yet."/> }.into_any()
                        } else {
                            view! {
                                <table class="table">
                                    <thead><tr><th>"Email"</th><th>"Name"</th><th>"Joined"</th><th></th></tr></thead>
                                    <tbody>
                                        {page.items.into_iter().map(|m| {
                                            let (uid, email) = (m.user_id.to_string(), m.email.clone());
                                            let label = format!("Remove {} from the group", m.email);
                                            view! {
                                                <tr>
                                                    <td class="strong">{m.email.clone()}</td>
                                                    <td>{m.display_name.clone()}</td>
                                                    <td class="muted">{m.created_at.format("%Y-%m-%d %H:%M").to_string()}</td>
                                                    <td class="row-actions">{can_write.then(|| view! {
                                                        <button class="danger small" aria-label=label on:click=move |_| remove(uid.clone(), email.clone())>"Remove"</button>
                                                    })}</td>
                                                </tr>
                                            }.into_any()
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                    }.into_any()
                }
            }}
        </section>
    }
}
