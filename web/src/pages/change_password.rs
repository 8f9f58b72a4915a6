//! The password an administrator set is a temporary one: right after
//! signing in with it, the user chooses their own here. The API refuses
//! everything else to such a session, so the console comes here first.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::ui::{FieldError, FormError};

/// Where to go afterwards: a page of the console, never another site.
fn next_page(next: Option<String>) -> String {
    next.filter(|n| n.starts_with("/console/t/"))
        .unwrap_or_else(|| "/console".to_owned())
}

#[component]
pub fn ChangePassword() -> impl IntoView {
    let query = use_query_map();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeated = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<ApiError>);
    let mismatch = RwSignal::new(false);
    // Until the page is hydrated the button stays disabled (see sign-in).
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        if new.get_untracked() != repeated.get_untracked() {
            mismatch.set(true);
            return;
        }
        mismatch.set(false);
        busy.set(true);
        let body = json!({
            "current_password": current.get_untracked(),
            "new_password": new.get_untracked(),
        });
        let next = next_page(query.read_untracked().get("next"));
        leptos::task::spawn_local(async move {
            match api::call("POST", "/me/password", Some(body)).await {
                Ok(()) => {
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().set_href(&next);
                    }
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
            <form class="card sign-in" on:submit=submit aria-label="Choose your password">
                <h1>"Choose your password"</h1>
                <p class="lede">
                    "An administrator set the password you signed in with. Choose your own to continue."
                </p>
                <label>
                    "Password you signed in with"
                    <input name="current_password" type="password" autocomplete="current-password"
                        required autofocus bind:value=current/>
                    <FieldError error field="current_password"/>
                </label>
                <label>
                    "New password"
                    <input name="new_password" type="password" autocomplete="new-password"
                        required minlength="12" bind:value=new/>
                    <FieldError error field="new_password"/>
                </label>
                <label>
                    "New password, again"
                    <input name="repeat_password" type="password" autocomplete="new-password"
                        required minlength="12" bind:value=repeated/>
                    <Show when=move || mismatch.get()>
                        <span class="field-error" role="alert">"The two new passwords differ."</span>
                    </Show>
                </label>
                <FormError error/>
                <div class="actions">
                    <button type="submit" disabled=move || busy.get() || !ready.get()>"Set password"</button>
                </div>
            </form>
        </main>
    }
}
