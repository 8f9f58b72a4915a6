//! Pieces every page uses: toasts, the confirmation dialog, loading and
//! empty states, field errors, and formatting.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::api::ApiError;

#[derive(Clone, Debug)]
pub struct Toast {
    id: u64,
    text: String,
    error: bool,
}

/// What a confirmed dialog does.
type Action = std::sync::Arc<dyn Fn() + Send + Sync>;

/// The page-wide toasts and confirmation dialog, provided once by the app.
#[derive(Clone, Copy)]
pub struct Ui {
    toasts: RwSignal<Vec<Toast>>,
    next: StoredValue<u64>,
    confirm: RwSignal<Option<(String, String)>>,
    // Owned by the app, not by the view that asked: a table drawn again
    // while the dialog is open must not take the action with it.
    action: StoredValue<Option<Action>>,
}

impl Ui {
    pub fn provide() -> Self {
        let ui = Ui {
            toasts: RwSignal::new(Vec::new()),
            next: StoredValue::new(0),
            confirm: RwSignal::new(None),
            action: StoredValue::new(None),
        };
        provide_context(ui);
        ui
    }

    pub fn get() -> Self {
        expect_context::<Ui>()
    }

    fn toast(&self, text: String, error: bool) {
        let id = self.next.get_value();
        self.next.set_value(id + 1);
        self.toasts.update(|t| t.push(Toast { id, text, error }));
        let toasts = self.toasts;
        set_timeout(
            move || toasts.update(|t| t.retain(|x| x.id != id)),
            std::time::Duration::from_secs(if error { 8 } else { 4 }),
        );
    }

    pub fn ok(&self, text: impl Into<String>) {
        self.toast(text.into(), false);
    }

    pub fn error(&self, e: &ApiError) {
        self.toast(e.message(), true);
    }

    /// Asks before something that cannot be undone; runs `then` on yes.
    pub fn confirm(
        &self,
        title: impl Into<String>,
        body: impl Into<String>,
        then: impl Fn() + Send + Sync + 'static,
    ) {
        self.action.set_value(Some(std::sync::Arc::new(then)));
        self.confirm.set(Some((title.into(), body.into())));
    }
}

#[component]
pub fn Toasts() -> impl IntoView {
    let ui = Ui::get();
    view! {
        <div class="toasts" role="status" aria-live="polite">
            <For each=move || ui.toasts.get() key=|t| t.id let:toast>
                <div class=if toast.error { "toast toast-error" } else { "toast" }>{toast.text}</div>
            </For>
        </div>
    }
}

#[component]
pub fn ConfirmDialog() -> impl IntoView {
    let ui = Ui::get();
    on_escape(move || ui.confirm.set(None));
    move || {
        ui.confirm.get().map(|(title, body)| {
            let close = move |_| ui.confirm.set(None);
            view! {
                <div class="backdrop" on:click=close></div>
                <div class="dialog" role="alertdialog" aria-modal="true" aria-labelledby="confirm-title">
                    <h2 id="confirm-title">{title}</h2>
                    <p>{body}</p>
                    <div class="actions">
                        <button class="secondary" on:click=close autofocus>"Cancel"</button>
                        <button class="danger" on:click=move |_| {
                            ui.confirm.set(None);
                            if let Some(action) = ui.action.get_value() {
                                action();
                            }
                        }>"Confirm"</button>
                    </div>
                </div>
            }
        })
    }
}

/// Runs `close` when Escape is pressed, for as long as the calling
/// component lives (dialogs and drawers close with it).
pub fn on_escape(close: impl Fn() + 'static) {
    let handle = window_event_listener(leptos::ev::keydown, move |e| {
        if e.key() == "Escape" {
            close();
        }
    });
    on_cleanup(move || handle.remove());
}

#[component]
pub fn Loading() -> impl IntoView {
    view! { <div class="loading" aria-busy="true"><span class="spinner"></span>"Loading…"</div> }
}

#[component]
pub fn Empty(#[prop(into)] text: String) -> impl IntoView {
    view! { <div class="empty">{text}</div> }
}

#[component]
pub fn Failed(error: ApiError) -> impl IntoView {
    view! { <div class="failed" role="alert">{error.message()}</div> }
}

/// The API's message for one field of the last failed submission.
#[component]
pub fn FieldError(error: RwSignal<Option<ApiError>>, #[prop(into)] field: String) -> impl IntoView {
    let pointer = format!("/{field}");
    move || {
        error
            .get()
            .and_then(|e| e.field(&pointer))
            .map(|m| view! { <span class="field-error" role="alert">{m}</span> })
    }
}

/// A failed submission, for the whole form. Field errors also show next to
/// their fields, but a form cannot know that every field the API names is
/// one it displays (`/permissions/3`), so the summary lists them all and
/// none is lost.
#[component]
pub fn FormError(error: RwSignal<Option<ApiError>>) -> impl IntoView {
    move || {
        error.get().map(|e| {
            let fields =
                e.0.errors
                    .iter()
                    .map(|f| {
                        let field = f.field.trim_start_matches('/').replace('/', " › ");
                        view! { <li>{format!("{field}: {}", f.message)}</li> }
                    })
                    .collect_view();
            view! {
                <div class="form-error" role="alert">
                    <p>{e.message()}</p>
                    <ul>{fields}</ul>
                </div>
            }
        })
    }
}

pub fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

pub fn when_opt(t: &Option<DateTime<Utc>>) -> String {
    t.as_ref().map(when).unwrap_or_else(|| "—".into())
}

/// Copies text to the clipboard.
pub fn copy(text: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.navigator().clipboard().write_text(text);
    }
}

/// The browser's clock (chrono's reads the system clock, which wasm lacks).
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default()
}
