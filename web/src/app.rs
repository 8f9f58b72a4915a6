//! The document shell, the routes and the signed-in layout: header with the
//! tenant switcher, navigation, main area.

use ditto_types::api::{Me, TenantPage};
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, ParentRoute, Route, Router, Routes};
use leptos_router::hooks::{use_navigate, use_params_map};
use leptos_router::path;

use crate::api::{self, ApiResult};
use crate::pages;
use crate::ui::{ConfirmDialog, Failed, Loading, Toasts, Ui};

/// The whole HTML document, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <title>"Ditto console"</title>
                <link rel="stylesheet" href="/console.css"/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    Ui::provide();
    view! {
        <Router>
            <Routes fallback=|| view! { <main class="centered"><div class="card"><h1>"Not found"</h1><p>"There is no such page in the console."</p><a href="/console">"Back to the console"</a></div></main> }>
                <Route path=path!("/console") view=Home/>
                <Route path=path!("/console/sign-in") view=pages::sign_in::SignIn/>
                <Route path=path!("/console/change-password") view=pages::change_password::ChangePassword/>
                <Route path=path!("/console/platform") view=pages::platform::Platform/>
                <ParentRoute path=path!("/console/t/:tenant") view=Layout>
                    <Route path=path!("") view=pages::usage::Overview/>
                    <Route path=path!("usage") view=pages::explorer::Explorer/>
                    <Route path=path!("projects") view=pages::projects::Projects/>
                    <Route path=path!("keys") view=pages::keys::Keys/>
                    <Route path=path!("members") view=pages::members::Members/>
                    <Route path=path!("groups") view=pages::groups::Groups/>
                    <Route path=path!("roles") view=pages::roles::Roles/>
                    <Route path=path!("budgets") view=pages::budgets::Budgets/>
                    <Route path=path!("audit") view=pages::audit::Audit/>
                    <Route path=path!("sso") view=pages::sso::Sso/>
                    <Route path=path!("backends") view=pages::backends::Backends/>
                    <Route path=path!("settings") view=pages::settings::Settings/>
                    <Route path=path!("account") view=pages::account::Account/>
                </ParentRoute>
            </Routes>
        </Router>
        <Toasts/>
        <ConfirmDialog/>
    }
}

/// Who is signed in and what they may do, for every page of the layout.
#[derive(Clone, Copy)]
pub struct Session {
    pub me: LocalResource<ApiResult<Me>>,
    tenant: Memo<String>,
}

impl Session {
    pub fn get() -> Self {
        expect_context::<Session>()
    }

    /// The tenant in the address.
    pub fn tenant(&self) -> String {
        self.tenant.get()
    }

    /// Whether the caller holds a permission in this tenant (or platform-wide).
    /// Actions it lacks are hidden; the API refuses them anyway.
    pub fn can(&self, permission: &str) -> bool {
        let tenant = self.tenant.get();
        match self.me.get() {
            Some(Ok(me)) => {
                me.platform_permissions.iter().any(|p| p == permission)
                    || me.tenants.iter().any(|t| {
                        (t.slug == tenant || t.id.to_string() == tenant)
                            && t.permissions.iter().any(|p| p == permission)
                    })
            }
            _ => false,
        }
    }
}

/// The tenant slug from the route.
pub fn tenant_param() -> Memo<String> {
    let params = use_params_map();
    Memo::new(move |_| params.read().get("tenant").unwrap_or_default())
}

/// The tenants the caller can switch between: its own, and every tenant for
/// a platform operator who may list them.
async fn switchable(me: &Me) -> Vec<(String, String)> {
    let mut tenants: Vec<(String, String)> = me
        .tenants
        .iter()
        .map(|t| (t.slug.clone(), t.name.clone()))
        .collect();
    if me.platform_permissions.iter().any(|p| p == "tenants:read")
        && let Ok(page) = api::get::<TenantPage>("/tenants?limit=200&sort=name").await
    {
        for t in page.items {
            if !tenants.iter().any(|(slug, _)| *slug == t.slug) {
                tenants.push((t.slug, t.name));
            }
        }
    }
    tenants
}

/// `/console`: straight to the first tenant the caller belongs to.
#[component]
fn Home() -> impl IntoView {
    let me = LocalResource::new(|| api::get::<Me>("/me"));
    let navigate = use_navigate();
    let tenants = LocalResource::new(move || async move {
        match me.await {
            Ok(me) => Ok(switchable(&me).await),
            Err(e) => Err(e),
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(list)) = tenants.get()
            && let Some((slug, _)) = list.first()
        {
            navigate(&format!("/console/t/{slug}"), Default::default());
        }
    });
    view! {
        <main class="centered">
            {move || match tenants.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="empty">"You do not belong to any tenant yet."</p>
                }.into_any(),
                Some(Ok(_)) => view! { <Loading/> }.into_any(),
            }}
        </main>
    }
}

#[component]
fn Layout() -> impl IntoView {
    let tenant = tenant_param();
    let me = LocalResource::new(|| api::get::<Me>("/me"));
    let session = Session { me, tenant };
    provide_context(session);
    let tenants = LocalResource::new(move || async move {
        match me.await {
            Ok(me) => switchable(&me).await,
            Err(_) => Vec::new(),
        }
    });
    // A session opened with a password an administrator set may do nothing
    // until the user chooses their own.
    Effect::new(move |_| {
        if let Some(Ok(me)) = me.get()
            && me.must_change_password == Some(true)
            && let Some(w) = web_sys::window()
        {
            let here = w.location().pathname().unwrap_or_default();
            let _ = w.location().set_href(&format!(
                "/console/change-password?next={}",
                api::enc(&here)
            ));
        }
    });
    let navigate = use_navigate();
    let switch = move |ev: leptos::ev::Event| {
        let slug = event_target_value(&ev);
        navigate(&format!("/console/t/{slug}"), Default::default());
    };
    let sign_out = move |_| {
        leptos::task::spawn_local(async move {
            let _ = api::call("POST", "/auth/sign-out", None).await;
            if let Some(w) = web_sys::window() {
                let _ = w.location().set_href("/console/sign-in");
            }
        });
    };
    let link = move |to: &'static str| {
        move || {
            let t = tenant.get();
            if to.is_empty() {
                format!("/console/t/{t}")
            } else {
                format!("/console/t/{t}/{to}")
            }
        }
    };
    let roles = move || match me.get() {
        Some(Ok(me)) => {
            let t = tenant.get();
            let mut roles: Vec<String> = me
                .tenants
                .iter()
                .filter(|x| x.slug == t)
                .flat_map(|x| x.roles.clone())
                .collect();
            if let Some(p) = me.platform_role {
                roles.push(format!("platform {p}"));
            }
            roles.join(", ")
        }
        _ => String::new(),
    };
    // Who is signed in: a person's name and email (a service account's name).
    let who = move || match me.get() {
        Some(Ok(me)) => {
            let name = me.display_name.or(me.name).unwrap_or_default();
            let email = me.email.unwrap_or_default();
            let title = if email.is_empty() {
                format!("Signed in as {name}")
            } else {
                format!("Signed in as {name} ({email})")
            };
            Some(view! {
                <span class="who" title=title>
                    <span class="who-name">{name}</span>
                    <span class="who-email">{email}</span>
                </span>
            })
        }
        _ => None,
    };
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/console">"Ditto"</a>
            <label class="switcher">
                <span class="visually-hidden">"Tenant"</span>
                <select aria-label="Tenant" on:change=switch prop:value=move || tenant.get()>
                    {move || {
                        let current = tenant.get();
                        let mut list = tenants.get().unwrap_or_default();
                        if !list.iter().any(|(slug, _)| *slug == current) {
                            list.insert(0, (current.clone(), current.clone()));
                        }
                        list.into_iter()
                            .map(|(slug, name)| {
                                let selected = slug == current;
                                view! { <option value=slug.clone() selected=selected>{name}</option> }
                            })
                            .collect_view()
                    }}
                </select>
            </label>
            <span class="spacer"></span>
            {who}
            <span class="roles" title="Your roles here">{roles}</span>
            <button class="secondary small" on:click=sign_out>"Sign out"</button>
        </header>
        <div class="frame">
            <nav class="sidenav" aria-label="Sections">
                <A href=link("")  exact=true>"Overview"</A>
                <A href=link("usage")>"Usage"</A>
                <A href=link("projects")>"Projects"</A>
                <A href=link("keys")>"API keys"</A>
                <A href=link("members")>"Members"</A>
                <Show when=move || session.can("users:read")><A href=link("groups")>"Groups"</A></Show>
                <Show when=move || session.can("roles:read")><A href=link("roles")>"Roles"</A></Show>
                <A href=link("budgets")>"Budgets"</A>
                <A href=link("audit")>"Audit log"</A>
                <A href=link("sso")>"Single sign-on"</A>
                <A href=link("backends")>"Backends and routes"</A>
                <Show when=move || session.can("tenants:read")><A href=link("settings")>"Settings"</A></Show>
                <span class="nav-gap"></span>
                <A href=link("account")>"Your account"</A>
            </nav>
            <main id="main" tabindex="-1">
                {move || me.get().and_then(Result::err).map(|e| view! { <Failed error=e/> })}
                <Outlet/>
            </main>
        </div>
    }
}
