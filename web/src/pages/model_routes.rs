//! Model routes: a public model name (or pattern) and its aliases, the
//! weighted backends that serve it and the fallbacks tried in order.

use ditto_types::api::{BackendPage, Route, RoutePage};
use leptos::prelude::*;
use serde_json::{Value, json};

use crate::api::{self, ApiError, ApiResult};
use crate::app::Session;
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui};

/// One backend of a route as the form edits it (a weight only for primaries).
#[derive(Clone, Copy)]
struct Row {
    key: u64,
    backend: RwSignal<String>,
    weight: RwSignal<String>,
    upstream: RwSignal<String>,
}

impl Row {
    fn new(key: u64, backend: String, weight: Option<u32>, upstream: Option<String>) -> Self {
        Row {
            key,
            backend: RwSignal::new(backend),
            weight: RwSignal::new(weight.unwrap_or(1).to_string()),
            upstream: RwSignal::new(upstream.unwrap_or_default()),
        }
    }

    fn value(&self, weighted: bool) -> Value {
        let mut v = json!({ "backend_id": self.backend.get_untracked() });
        if weighted {
            let w = self.weight.get_untracked();
            v["weight"] = w
                .trim()
                .parse::<u64>()
                .map(|n| json!(n))
                .unwrap_or_else(|_| json!(w));
        }
        let upstream = self.upstream.get_untracked();
        if !upstream.trim().is_empty() {
            v["upstream_model"] = json!(upstream.trim());
        }
        v
    }
}

#[component]
pub fn ModelRoutes(backends: LocalResource<ApiResult<BackendPage>>) -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let routes = LocalResource::new(move || {
        let t = session.tenant();
        async move { api::get::<RoutePage>(&format!("/tenants/{t}/routes?limit=200")).await }
    });
    let editing = RwSignal::new(None::<Option<Route>>);
    let backend_name = move |id: String| {
        backends
            .get()
            .and_then(Result::ok)
            .and_then(|p| {
                p.items
                    .into_iter()
                    .find(|b| b.id.to_string() == id)
                    .map(|b| b.name)
            })
            .unwrap_or(id)
    };

    let delete = move |r: Route| {
        let t = session.tenant();
        ui.confirm(
            format!("Delete route “{}”?", r.model),
            "Requests for this model fail from now on (unless another route matches).",
            move || {
                let t = t.clone();
                let id = r.id;
                leptos::task::spawn_local(async move {
                    match api::call("DELETE", &format!("/tenants/{t}/routes/{id}"), None).await {
                        Ok(()) => {
                            ui.ok("Route deleted");
                            routes.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    view! {
        <section class="card" aria-labelledby="routes-title">
            <div class="section-head">
                <h2 id="routes-title">"Model routes"</h2>
                <Show when=move || session.can("routes:write")>
                    <button class="secondary small" on:click=move |_| editing.set(Some(None))>"New route"</button>
                </Show>
            </div>
            {move || editing.get().map(|existing| {
                let done = Callback::new(move |saved: bool| {
                    editing.set(None);
                    if saved { routes.refetch(); }
                });
                view! { <RouteForm existing backends done/> }
            })}
            {move || match routes.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No routes yet: keys can call no model."/> }.into_any(),
                Some(Ok(page)) => {
                    let can_write = session.can("routes:write");
                    view! {
                        <table class="table">
                            <thead><tr><th>"Model"</th><th>"Aliases"</th><th>"Backends (weight)"</th><th>"Fallbacks"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {page.items.into_iter().map(|r| {
                                    let targets = r.targets.iter().map(|t| {
                                        let to = t.upstream_model.as_ref().map(|m| format!(" → {m}")).unwrap_or_default();
                                        format!("{} ({}){to}", backend_name(t.backend_id.to_string()), t.weight)
                                    }).collect::<Vec<_>>().join(", ");
                                    let fallbacks = r.fallbacks.iter().map(|f| backend_name(f.backend_id.to_string())).collect::<Vec<_>>().join(" → ");
                                    let (e1, d1) = (r.clone(), r.clone());
                                    let label = r.model.clone();
                                    view! {
                                        <tr data-route=r.model.clone()>
                                            <td class="strong"><code>{r.model.clone()}</code></td>
                                            <td>{if r.aliases.is_empty() { "—".to_owned() } else { r.aliases.join(", ") }}</td>
                                            <td>{targets}</td>
                                            <td class="muted">{if fallbacks.is_empty() { "—".to_owned() } else { fallbacks }}</td>
                                            <td class="row-actions">
                                                {can_write.then(|| view! {
                                                    <button class="secondary small" aria-label=format!("Edit route {label}") on:click=move |_| editing.set(Some(Some(e1.clone())))>"Edit"</button>
                                                    <button class="danger small" aria-label=format!("Delete route {label}") on:click=move |_| delete(d1.clone())>"Delete"</button>
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
fn RouteForm(
    existing: Option<Route>,
    backends: LocalResource<ApiResult<BackendPage>>,
    done: Callback<bool>,
) -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let next = StoredValue::new(0u64);
    let key = move || {
        let k = next.get_value();
        next.set_value(k + 1);
        k
    };
    let r = existing.as_ref();
    let model = RwSignal::new(r.map(|r| r.model.clone()).unwrap_or_default());
    let aliases = RwSignal::new(r.map(|r| r.aliases.join(", ")).unwrap_or_default());
    let targets = RwSignal::new(match r {
        Some(r) => r
            .targets
            .iter()
            .map(|t| {
                Row::new(
                    key(),
                    t.backend_id.to_string(),
                    Some(t.weight),
                    t.upstream_model.clone(),
                )
            })
            .collect(),
        None => vec![Row::new(key(), String::new(), None, None)],
    });
    let fallbacks = RwSignal::new(
        r.map(|r| {
            r.fallbacks
                .iter()
                .map(|f| {
                    Row::new(
                        key(),
                        f.backend_id.to_string(),
                        None,
                        f.upstream_model.clone(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default(),
    );
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let id = r.map(|r| r.id);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let aliases: Vec<String> = aliases
            .get_untracked()
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        let body = json!({
            "model": model.get_untracked().trim(),
            "aliases": aliases,
            "targets": targets.get_untracked().iter().map(|r| r.value(true)).collect::<Vec<_>>(),
            "fallbacks": fallbacks.get_untracked().iter().map(|r| r.value(false)).collect::<Vec<_>>(),
        });
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = match id {
                None => api::post::<_, Route>(&format!("/tenants/{t}/routes"), &body)
                    .await
                    .map(|_| ()),
                Some(id) => {
                    api::call("PATCH", &format!("/tenants/{t}/routes/{id}"), Some(body)).await
                }
            };
            busy.set(false);
            match result {
                Ok(()) => {
                    ui.ok(if id.is_none() {
                        "Route created"
                    } else {
                        "Route saved"
                    });
                    done.run(true);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    let options = move || {
        backends
            .get()
            .and_then(Result::ok)
            .map(|p| p.items)
            .unwrap_or_default()
    };
    let rows = move |list: RwSignal<Vec<Row>>, weighted: bool, what: &'static str| {
        view! {
            <For each=move || list.get() key=|r| r.key let:row>
                <div class="route-row">
                    <label>
                        {format!("{what} backend")}
                        <select required bind:value=row.backend>
                            <option value="">"Choose a backend"</option>
                            {move || options().into_iter().map(|b| {
                                let id = b.id.to_string();
                                let selected = row.backend.get_untracked() == id;
                                view! { <option value=id selected=selected>{b.name}</option> }
                            }).collect_view()}
                        </select>
                    </label>
                    {weighted.then(|| view! {
                        <label class="narrow">"Weight"<input inputmode="numeric" bind:value=row.weight/></label>
                    })}
                    <label>
                        "Upstream model"
                        <input placeholder="as requested" bind:value=row.upstream/>
                    </label>
                    <button type="button" class="secondary small" aria-label=format!("Remove {what} backend")
                        on:click=move |_| list.update(|l| l.retain(|r| r.key != row.key))>"Remove"</button>
                </div>
            </For>
        }
        .into_any()
    };

    view! {
        <form class="subcard form-grid" on:submit=submit aria-label="Model route">
            <h3 class="wide">{if id.is_none() { "New route" } else { "Edit route" }}</h3>
            <label>
                "Public model name"
                <input name="model" required maxlength="200" placeholder="gpt-4o or gpt-4o* or *" bind:value=model/>
                <FieldError error field="model"/>
            </label>
            <label>
                "Aliases"
                <input name="aliases" placeholder="comma-separated" bind:value=aliases/>
                <FieldError error field="aliases"/>
            </label>
            <fieldset class="wide">
                <legend>"Backends, chosen by weight"</legend>
                {rows(targets, true, "Primary")}
                <ListErrors error prefix="/targets"/>
                <button type="button" class="secondary small" on:click=move |_| targets.update(|l| l.push(Row::new(key(), String::new(), None, None)))>"Add backend"</button>
            </fieldset>
            <fieldset class="wide">
                <legend>"Fallbacks, tried in order when the backends fail"</legend>
                {rows(fallbacks, false, "Fallback")}
                <ListErrors error prefix="/fallbacks"/>
                <button type="button" class="secondary small" on:click=move |_| fallbacks.update(|l| l.push(Row::new(key(), String::new(), None, None)))>"Add fallback"</button>
            </fieldset>
            <div class="form-foot">
                <FormError error/>
                <button type="button" class="secondary" on:click=move |_| done.run(false)>"Cancel"</button>
                <button type="submit" disabled=move || busy.get()>{if id.is_none() { "Create route" } else { "Save" }}</button>
            </div>
        </form>
    }
    .into_any()
}

/// The API's complaints about a list and its items (`/targets/1/weight`),
/// with the row number people see.
#[component]
fn ListErrors(error: RwSignal<Option<ApiError>>, prefix: &'static str) -> impl IntoView {
    move || {
        error.get().map(|e| {
            e.0.errors
                .iter()
                .filter(|f| f.field.starts_with(prefix))
                .map(|f| {
                    let rest = f.field[prefix.len()..].trim_start_matches('/');
                    let place = match rest.split_once('/') {
                        Some((n, field)) => n
                            .parse::<usize>()
                            .map(|n| format!("row {}, {field}: ", n + 1))
                            .unwrap_or_default(),
                        None => rest
                            .parse::<usize>()
                            .map(|n| format!("row {}: ", n + 1))
                            .unwrap_or_default(),
                    };
                    view! { <p class="field-error" role="alert">{format!("{place}{}", f.message)}</p> }
                })
                .collect_view()
        })
    }
}
