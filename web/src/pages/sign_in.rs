//! Sign-in: the organisation and email first, then the password, then the
//! authenticator code when the API asks for one.

use ditto_types::api::SignedIn;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::ui::{FieldError, FormError};

#[derive(Clone, Copy, PartialEq)]
enum Step {
    Who,
    Password,
}

#[component]
pub fn SignIn() -> impl IntoView {
    let query = use_query_map();
    let expired = move || query.read().get("expired").is_some();
    let tenant = RwSignal::new(query.read_untracked().get("tenant").unwrap_or_default());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let step = RwSignal::new(Step::Who);
    let need_code = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    // Effects run only in the browser: until the page is hydrated the
    // button stays disabled, so nothing is submitted as a plain HTML form.
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        if step.get_untracked() == Step::Who {
            step.set(Step::Password);
            return;
        }
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
        let next = query.read_untracked().get("next");
        leptos::task::spawn_local(async move {
            match api::post::<_, SignedIn>("/auth/sign-in", &body).await {
                Ok(_) => {
                    let to = next
                        .filter(|n| n.starts_with("/console/t/"))
                        .unwrap_or_else(|| format!("/console/t/{tenant}"));
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().set_href(&to);
                    }
                }
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

    view! {
        <main class="centered">
            <form class="card sign-in" on:submit=submit>
                <h1>"Sign in to Ditto"</h1>
                {move || expired().then(|| view! {
                    <p class="notice" role="status">"Your session has ended. Please sign in again."</p>
                })}
                <label>
                    "Organization"
                    <input name="tenant" autocomplete="organization" required
                        placeholder="acme" bind:value=tenant
                        prop:readonly=move || step.get() != Step::Who/>
                    <FieldError error field="tenant"/>
                </label>
                <label>
                    "Email"
                    <input name="email" type="email" autocomplete="username" required
                        bind:value=email prop:readonly=move || step.get() != Step::Who/>
                    <FieldError error field="email"/>
                </label>
                <Show when=move || step.get() == Step::Password>
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
                    <Show when=move || step.get() == Step::Password>
                        <button type="button" class="secondary" on:click=move |_| {
                            step.set(Step::Who);
                            need_code.set(false);
                            password.set(String::new());
                            error.set(None);
                        }>"Back"</button>
                    </Show>
                    <button type="submit" disabled=move || busy.get() || !ready.get()>
                        {move || if step.get() == Step::Who { "Continue" } else { "Sign in" }}
                    </button>
                </div>
            </form>
        </main>
    }
}
