//! The signed-in person's own security: password, second factor, sessions
//! and personal access tokens (all under `/api/v1/me`).

use ditto_types::api::{
    CreatedPersonalAccessToken, PersonalAccessTokenPage, RecoveryCodes, SessionPage, TotpEnrolment,
};
use leptos::prelude::*;
use serde_json::json;

use crate::api::{self, ApiError};
use crate::app::Session;
use crate::qr::QrCode;
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui, copy, now, when, when_opt};

#[component]
pub fn Account() -> impl IntoView {
    view! {
        <div class="page-head">
            <h1>"Your account"</h1>
            <p class="lede">"Your password, second factor, sessions and personal access tokens."</p>
        </div>
        <Password/>
        <SecondFactor/>
        <Sessions/>
        <Tokens/>
    }
}

#[component]
fn Password() -> impl IntoView {
    let ui = Ui::get();
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = json!({ "current_password": current.get_untracked(), "new_password": new.get_untracked() });
        leptos::task::spawn_local(async move {
            match api::call("POST", "/me/password", Some(body)).await {
                Ok(()) => {
                    ui.ok("Password changed; your other sessions have ended");
                    current.set(String::new());
                    new.set(String::new());
                    error.set(None);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class="card">
            <h2>"Password"</h2>
            <form class="form-row" on:submit=submit aria-label="Change password">
                <label>
                    "Current password"
                    <input name="current_password" type="password" autocomplete="current-password" required bind:value=current/>
                    <FieldError error field="current_password"/>
                </label>
                <label>
                    "New password"
                    <input name="new_password" type="password" autocomplete="new-password" required minlength="12" bind:value=new/>
                    <FieldError error field="new_password"/>
                </label>
                <button type="submit" class="secondary">"Change password"</button>
                <FormError error/>
            </form>
        </section>
    }
}

#[component]
fn SecondFactor() -> impl IntoView {
    let ui = Ui::get();
    let session = Session::get();
    let enrolment = RwSignal::new(None::<TotpEnrolment>);
    let codes = RwSignal::new(None::<Vec<String>>);
    let code = RwSignal::new(String::new());
    let off_code = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let off_error = RwSignal::new(None::<ApiError>);
    // Whether the factor is on, as `/me` says; asked again after each change.
    let enabled = move || {
        session
            .me
            .get()
            .and_then(Result::ok)
            .map(|me| me.totp_enabled.unwrap_or(false))
    };
    let begin = move |_| {
        leptos::task::spawn_local(async move {
            match api::post::<_, TotpEnrolment>("/me/totp", &json!({})).await {
                Ok(e) => {
                    error.set(None);
                    enrolment.set(Some(e));
                }
                Err(e) => ui.error(&e),
            }
        });
    };
    let confirm = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = json!({ "code": code.get_untracked().replace(' ', "") });
        leptos::task::spawn_local(async move {
            match api::post::<_, RecoveryCodes>("/me/totp/confirm", &body).await {
                Ok(r) => {
                    ui.ok("Second factor on");
                    enrolment.set(None);
                    code.set(String::new());
                    error.set(None);
                    codes.set(Some(r.codes));
                    session.me.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let disable = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = json!({ "code": off_code.get_untracked().replace(' ', "") });
        leptos::task::spawn_local(async move {
            match api::call("POST", "/me/totp/disable", Some(body)).await {
                Ok(()) => {
                    ui.ok("Second factor off");
                    off_code.set(String::new());
                    off_error.set(None);
                    session.me.refetch();
                }
                Err(e) => off_error.set(Some(e)),
            }
        });
    };
    view! {
        <section class="card second-factor">
            <h2>"Second factor"</h2>
            {move || codes.get().map(|list| {
                let text = list.join("\n");
                view! {
                    <div class="subcard secret" role="region" aria-label="Recovery codes">
                        <p>"Recovery codes, each usable once if your phone is lost. Keep them somewhere safe: they are not shown again."</p>
                        <pre data-testid="recovery-codes">{text.clone()}</pre>
                        <div class="secret-row">
                            <button class="secondary small" on:click=move |_| { copy(&text); ui.ok("Copied"); }>"Copy"</button>
                            <button class="secondary small" on:click=move |_| codes.set(None)>"Done"</button>
                        </div>
                    </div>
                }
            })}
            {move || match (enabled(), enrolment.get()) {
                (None, _) => view! { <Loading/> }.into_any(),
                (Some(true), _) => view! {
                    <p class="lede"><span class="badge badge-active">"on"</span>" An authenticator app (TOTP) code is asked for at every sign-in."</p>
                    <form class="form-row" on:submit=disable aria-label="Turn off the second factor">
                        <label>
                            "Code to turn it off"
                            <input name="disable_code" inputmode="numeric" autocomplete="one-time-code" required bind:value=off_code/>
                            <span class="hint">"From your app, or a recovery code"</span>
                            <FieldError error=off_error field="code"/>
                        </label>
                        <button type="submit" class="danger">"Turn off"</button>
                        <FormError error=off_error/>
                    </form>
                }.into_any(),
                (Some(false), None) => view! {
                    <p class="lede"><span class="badge">"off"</span>" Add an authenticator app (TOTP): its code is then asked for at every sign-in."</p>
                    <button class="secondary" on:click=begin>"Set up an authenticator app"</button>
                }.into_any(),
                (Some(false), Some(e)) => view! {
                    <p>"Scan this code with your authenticator app, or type the key into it, then enter the code the app shows."</p>
                    <div class="totp-setup">
                        <QrCode text=e.otpauth_uri.clone() label="QR code for your authenticator app"/>
                        <div>
                            <p class="hint">"Key, for typing in"</p>
                            <p><code class="secret-value" data-testid="totp-secret">{e.secret.clone()}</code></p>
                            <p class="hint"><a href=e.otpauth_uri.clone() rel="external">"Open in an authenticator app on this device"</a></p>
                        </div>
                    </div>
                    <form class="form-row" on:submit=confirm aria-label="Confirm the authenticator">
                        <label>
                            "Code"
                            <input name="totp_code" inputmode="numeric" autocomplete="one-time-code" required bind:value=code/>
                            <FieldError error field="code"/>
                        </label>
                        <button type="submit">"Turn on"</button>
                        <button type="button" class="secondary" on:click=move |_| enrolment.set(None)>"Cancel"</button>
                        <FormError error/>
                    </form>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Sessions() -> impl IntoView {
    let ui = Ui::get();
    let list = LocalResource::new(|| api::get::<SessionPage>("/me/sessions?limit=100"));
    let end = move |id: String| {
        ui.confirm(
            "End this session?",
            "The browser using it is signed out.",
            move || {
                let id = id.clone();
                leptos::task::spawn_local(async move {
                    match api::call("DELETE", &format!("/me/sessions/{id}"), None).await {
                        Ok(()) => {
                            ui.ok("Session ended");
                            list.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };
    view! {
        <section class="card">
            <h2>"Sessions"</h2>
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) => view! {
                    <table class="table">
                        <thead><tr><th>"Signed in"</th><th>"How"</th><th>"From"</th><th>"Last seen"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                        <tbody>
                            {page.items.into_iter().filter(|s| s.revoked_at.is_none()).map(|s| {
                                let id = s.id.to_string();
                                view! {
                                    <tr>
                                        <td>{when(&s.created_at)}</td>
                                        <td>{s.method.as_str()}</td>
                                        <td class="muted">{s.source_ip.clone().unwrap_or_default()}</td>
                                        <td class="muted">{when(&s.last_seen_at)}</td>
                                        <td class="row-actions">
                                            {if s.current {
                                                view! { <span class="badge badge-active">"this browser"</span> }.into_any()
                                            } else {
                                                view! { <button class="danger small" on:click=move |_| end(id.clone())>"End"</button> }.into_any()
                                            }}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Tokens() -> impl IntoView {
    let ui = Ui::get();
    let list = LocalResource::new(|| api::get::<PersonalAccessTokenPage>("/me/tokens?limit=100"));
    let name = RwSignal::new(String::new());
    let days = RwSignal::new("30".to_owned());
    let error = RwSignal::new(None::<ApiError>);
    let secret = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let days: i64 = days.get_untracked().parse().unwrap_or(30);
        let expires = now() + chrono::Duration::days(days);
        let body = json!({ "name": name.get_untracked().trim(), "expires_at": expires });
        leptos::task::spawn_local(async move {
            match api::post::<_, CreatedPersonalAccessToken>("/me/tokens", &body).await {
                Ok(t) => {
                    ui.ok(format!("Token “{}” created", t.token.name));
                    secret.set(Some(t.secret));
                    name.set(String::new());
                    error.set(None);
                    list.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let revoke = move |id: String, label: String| {
        ui.confirm(
            format!("Revoke token “{label}”?"),
            "Scripts using it stop working.",
            move || {
                let id = id.clone();
                leptos::task::spawn_local(async move {
                    match api::call("POST", &format!("/me/tokens/{id}/revoke"), None).await {
                        Ok(()) => {
                            ui.ok("Token revoked");
                            list.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };
    view! {
        <section class="card">
            <h2>"Personal access tokens"</h2>
            <p class="lede">"For your scripts: a token acts as you, with what your roles allow at the time."</p>
            {move || secret.get().map(|value| {
                let shown = value.clone();
                view! {
                    <div class="secret-row secret">
                        <code class="secret-value">{shown}</code>
                        <button class="secondary small" on:click=move |_| { copy(&value); ui.ok("Copied"); }>"Copy"</button>
                        <button class="secondary small" on:click=move |_| secret.set(None)>"Done"</button>
                    </div>
                }
            })}
            <form class="form-row" on:submit=create aria-label="New personal access token">
                <label class="grow">
                    "Token name"
                    <input name="token_name" required bind:value=name/>
                    <FieldError error field="name"/>
                </label>
                <label>
                    "Expires in"
                    <select name="token_days" bind:value=days>
                        <option value="7">"7 days"</option>
                        <option value="30" selected>"30 days"</option>
                        <option value="90">"90 days"</option>
                        <option value="366">"a year"</option>
                    </select>
                    <FieldError error field="expires_at"/>
                </label>
                <button type="submit" class="secondary">"Create token"</button>
                <FormError error/>
            </form>
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No tokens."/> }.into_any(),
                Some(Ok(page)) => view! {
                    <table class="table">
                        <thead><tr><th>"Name"</th><th>"Prefix"</th><th>"Expires"</th><th>"Last used"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                        <tbody>
                            {page.items.into_iter().map(|t| {
                                let id = t.id.to_string();
                                let label = t.name.clone();
                                let revoked = t.revoked_at.is_some();
                                view! {
                                    <tr>
                                        <td class="strong">{t.name.clone()}</td>
                                        <td><code>{t.prefix.clone()}</code></td>
                                        <td class="muted">{when_opt(&t.expires_at)}</td>
                                        <td class="muted">{when_opt(&t.last_used_at)}</td>
                                        <td class="row-actions">
                                            {if revoked {
                                                view! { <span class="badge badge-revoked">"revoked"</span> }.into_any()
                                            } else {
                                                view! { <button class="danger small" on:click=move |_| revoke(id.clone(), label.clone())>"Revoke"</button> }.into_any()
                                            }}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}
