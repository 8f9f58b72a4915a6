//! Sign-in: the email address first. Home-realm discovery says whether its
//! domain belongs to a tenant that signs in through its identity provider
//! (the browser is sent there) or whether a password is asked for (and the
//! authenticator code when the API wants one).

use ditto_types::api::{DiscoveredConnection, SignInRoute, SignedIn, SsoDiscovery};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde_json::json;

use crate::api::{self, ApiError, enc};
use crate::ui::{FieldError, FormError};

#[derive(Clone, Copy, PartialEq)]
enum Step {
    Email,
    Password,
    Sso,
}

fn go(to: &str) {
    if let Some(w) = web_sys::window() {
        let _ = w.location().set_href(to);
    }
}

#[component]
pub fn SignIn() -> impl IntoView {
    let query = use_query_map();
    let expired = move || query.read().get("expired").is_some();
    let tenant = RwSignal::new(query.read_untracked().get("tenant").unwrap_or_default());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let step = RwSignal::new(Step::Email);
    let connections = RwSignal::new(Vec::<DiscoveredConnection>::new());
    let sso_enforced = RwSignal::new(false);
    let need_code = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    // Effects run only in the browser: until the page is hydrated the
    // button stays disabled, so nothing is submitted as a plain HTML form.
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));
    // Where to go once signed in: back where the session ended, else the tenant.
    let destination = move |tenant: &str| {
        query
            .read_untracked()
            .get("next")
            .filter(|n| n.starts_with("/console/t/"))
            .unwrap_or_else(|| format!("/console/t/{tenant}"))
    };

    let discover = move || {
        busy.set(true);
        let body = json!({ "email": email.get_untracked().trim() });
        leptos::task::spawn_local(async move {
            match api::post::<_, SsoDiscovery>("/auth/sso/discover", &body).await {
                Ok(found) if found.method == SignInRoute::Sso && !found.connections.is_empty() => {
                    let slug = found.tenant.unwrap_or_default();
                    tenant.set(slug.clone());
                    sso_enforced.set(found.sso_enforced);
                    if let [only] = found.connections.as_slice()
                        && found.sso_enforced
                    {
                        go(&format!(
                            "{}?return_to={}",
                            only.login_url,
                            enc(&destination(&slug))
                        ));
                        return;
                    }
                    connections.set(found.connections);
                    step.set(Step::Sso);
                }
                Ok(_) => step.set(Step::Password),
                // The address itself is wrong: say so at the field.
                Err(e) if e.status() == 422 => error.set(Some(e)),
                // Discovery unavailable (throttled, say): a password still works.
                Err(_) => step.set(Step::Password),
            }
            busy.set(false);
        });
    };

    let sign_in = move || {
        busy.set(true);
        let tenant = tenant.get_untracked().trim().to_owned();
        let mut body = json!({
            "tenant": tenant,
            "email": email.get_untracked().trim(),
            "password": password.get_untracked(),
        });
        if need_code.get_untracked() {
            let code = code.get_untracked().replace(' ', "");
            // Six digits are an authenticator code; anything else a recovery code.
            let field = if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
                "totp_code"
            } else {
                "recovery_code"
            };
            body[field] = json!(code);
        }
        leptos::task::spawn_local(async move {
            match api::post::<_, SignedIn>("/auth/sign-in", &body).await {
                Ok(signed) if signed.must_change_password => go(&format!(
                    "/console/change-password?next={}",
                    enc(&destination(&tenant))
                )),
                Ok(_) => go(&destination(&tenant)),
                Err(e) if e.code() == "second-factor-required" => {
                    busy.set(false);
                    need_code.set(true);
                }
                Err(e) => {
                    busy.set(false);
                    error.set(Some(e));
                }
            }
        });
    };

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        match step.get_untracked() {
            Step::Email => discover(),
            Step::Password => sign_in(),
            Step::Sso => {}
        }
    };
    let back = move |_| {
        step.set(Step::Email);
        need_code.set(false);
        password.set(String::new());
        error.set(None);
    };

    view! {
        <main class="centered">
            <form class="card sign-in" on:submit=submit>
                <h1>"Sign in to Ditto"</h1>
                {move || expired().then(|| view! {
                    <p class="notice" role="status">"Your session has ended. Please sign in again."</p>
                })}
                <label>
                    "Email"
                    <input name="email" type="email" autocomplete="username" required autofocus
                        bind:value=email prop:readonly=move || step.get() != Step::Email/>
                    <FieldError error field="email"/>
                </label>
                <Show when=move || step.get() == Step::Sso>
                    <p class="lede">"Your organization signs in through its identity provider."</p>
                    {move || connections.get().into_iter().map(|c| {
                        let href = format!("{}?return_to={}", c.login_url, enc(&destination(&tenant.get_untracked())));
                        // rel=external: a full page load, not a route of the console.
                        view! { <a class="button" rel="external" href=href>{format!("Continue with {}", c.name)}</a> }
                    }).collect_view()}
                    <Show when=move || !sso_enforced.get()>
                        <button type="button" class="link" on:click=move |_| step.set(Step::Password)>
                            "Use a password instead"
                        </button>
                    </Show>
                </Show>
                <Show when=move || step.get() == Step::Password>
                    <label>
                        "Organization"
                        <input name="tenant" autocomplete="organization" required placeholder="acme" bind:value=tenant/>
                        <FieldError error field="tenant"/>
                    </label>
                    <label>
                        "Password"
                        <input name="password" type="password" autocomplete="current-password"
                            required autofocus bind:value=password/>
                        <FieldError error field="password"/>
                    </label>
                </Show>
                <Show when=move || need_code.get()>
                    <label>
                        "Authentication code"
                        <input name="code" inputmode="numeric" autocomplete="one-time-code"
                            required autofocus bind:value=code/>
                        <span class="hint">"The six digits from your authenticator app, or a recovery code."</span>
                    </label>
                </Show>
                <FormError error/>
                <div class="actions">
                    <Show when=move || step.get() != Step::Email>
                        <button type="button" class="secondary" on:click=back>"Back"</button>
                    </Show>
                    <Show when=move || step.get() != Step::Sso>
                        <button type="submit" disabled=move || busy.get() || !ready.get()>
                            {move || if step.get() == Step::Email { "Continue" } else { "Sign in" }}
                        </button>
                    </Show>
                </div>
            </form>
        </main>
    }
}
