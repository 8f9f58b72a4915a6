//! Single sign-on settings: the tenant's OIDC and SAML connections (create,
//! edit, delete, test sign-in), then its email domains, enforced SSO and
//! SCIM tokens (`sso_domains.rs`, `scim_tokens.rs`).

use ditto_types::api::{
    ClaimMapping, GroupRoleMapping, SsoConnection, SsoConnectionPage, SsoProtocol,
};
use leptos::prelude::*;
use serde_json::{Value, json};

use crate::api::{self, ApiError};
use crate::app::Session;
use crate::pages::{scim_tokens::ScimTokens, sso_domains::Domains};
use crate::ui::{Empty, Failed, FieldError, FormError, Loading, Ui, when};

/// This server's address as the browser sees it, for the absolute URLs an
/// identity provider needs.
pub fn origin() -> String {
    web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// `group = role` per line, as the form edits them.
fn mappings_text(list: &[GroupRoleMapping]) -> String {
    list.iter()
        .map(|m| format!("{} = {}", m.group, m.role))
        .collect::<Vec<_>>()
        .join("\n")
}

fn mappings_value(text: &str) -> Value {
    let list: Vec<Value> = text
        .lines()
        .filter_map(|line| {
            let (group, role) = line.split_once('=')?;
            Some(json!({ "group": group.trim(), "role": role.trim() }))
        })
        .collect();
    json!(list)
}

/// Which form is open: a new connection of a protocol, or an existing one.
#[derive(Clone)]
enum Editing {
    New(SsoProtocol),
    Existing(Box<SsoConnection>),
}

#[component]
pub fn Sso() -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let connections = LocalResource::new(move || {
        let t = session.tenant();
        async move {
            api::get::<SsoConnectionPage>(&format!("/tenants/{t}/sso-connections?limit=100")).await
        }
    });
    let editing = RwSignal::new(None::<Editing>);

    let delete = move |c: SsoConnection| {
        let t = session.tenant();
        ui.confirm(
            format!("Delete connection “{}”?", c.name),
            "People can no longer sign in through it; their accounts stay.",
            move || {
                let t = t.clone();
                let id = c.id;
                leptos::task::spawn_local(async move {
                    match api::call(
                        "DELETE",
                        &format!("/tenants/{t}/sso-connections/{id}"),
                        None,
                    )
                    .await
                    {
                        Ok(()) => {
                            ui.ok("Connection deleted");
                            connections.refetch();
                        }
                        Err(e) => ui.error(&e),
                    }
                });
            },
        );
    };

    view! {
        <div class="page-head">
            <h1>"Single sign-on"</h1>
            <p class="lede">"Where your people sign in, which email domains are yours, and how your identity provider provisions accounts."</p>
        </div>
        <section class="card" aria-labelledby="connections-title">
            <div class="section-head">
                <h2 id="connections-title">"Connections"</h2>
                <Show when=move || session.can("sso:write")>
                    <div class="actions">
                        <button class="secondary small" on:click=move |_| editing.set(Some(Editing::New(SsoProtocol::Oidc)))>"New OIDC connection"</button>
                        <button class="secondary small" on:click=move |_| editing.set(Some(Editing::New(SsoProtocol::Saml)))>"New SAML connection"</button>
                    </div>
                </Show>
            </div>
            {move || editing.get().map(|e| {
                let done = Callback::new(move |saved: bool| {
                    editing.set(None);
                    if saved { connections.refetch(); }
                });
                let (protocol, existing) = match e {
                    Editing::New(p) => (p, None),
                    Editing::Existing(c) => (c.protocol, Some(*c)),
                };
                match protocol {
                    SsoProtocol::Oidc => view! { <OidcForm existing done/> }.into_any(),
                    SsoProtocol::Saml => view! { <SamlForm existing done/> }.into_any(),
                }
            })}
            {move || match connections.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <Failed error=e/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <Empty text="No connections yet: people sign in with a password."/> }.into_any(),
                Some(Ok(page)) => {
                    let can_write = session.can("sso:write");
                    let tenant = session.tenant();
                    view! {
                        <table class="table">
                            <thead><tr><th>"Name"</th><th>"Protocol"</th><th>"Issuer"</th><th>"Status"</th><th>"Updated"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {page.items.into_iter().map(|c| {
                                    let status = if c.enabled { "active" } else { "disabled" };
                                    let protocol = match c.protocol { SsoProtocol::Oidc => "OIDC", SsoProtocol::Saml => "SAML" };
                                    let test = format!("{}?return_to=/console/t/{}/sso", c.login_url, tenant);
                                    let (e1, d1) = (c.clone(), c.clone());
                                    let label = c.name.clone();
                                    view! {
                                        <tr data-connection=c.name.clone()>
                                            <td class="strong">{c.name.clone()}</td>
                                            <td>{protocol}</td>
                                            <td class="wrap muted">{c.issuer.clone()}</td>
                                            <td><span class=format!("badge badge-{status}")>{if c.enabled { "enabled" } else { "disabled" }}</span></td>
                                            <td class="muted nowrap">{when(&c.updated_at)}</td>
                                            <td class="row-actions">
                                                <a class="small-link" href=test rel="external" aria-label=format!("Test sign-in with {label}")>"Test sign-in"</a>
                                                {can_write.then(|| view! {
                                                    <button class="secondary small" aria-label=format!("Edit {label}") on:click=move |_| editing.set(Some(Editing::Existing(Box::new(e1.clone()))))>"Edit"</button>
                                                    <button class="danger small" aria-label=format!("Delete {label}") on:click=move |_| delete(d1.clone())>"Delete"</button>
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
        <Domains/>
        <ScimTokens/>
    }
}

/// Fields every connection has: claims (or attribute names), JIT, group →
/// role mappings, enabled.
#[derive(Clone, Copy)]
struct Common {
    name: RwSignal<String>,
    email: RwSignal<String>,
    display: RwSignal<String>,
    groups: RwSignal<String>,
    jit: RwSignal<bool>,
    mappings: RwSignal<String>,
    enabled: RwSignal<bool>,
}

impl Common {
    fn new(c: Option<&SsoConnection>) -> Self {
        let claims = c.map(|c| c.claims.clone()).unwrap_or_default();
        Common {
            name: RwSignal::new(c.map(|c| c.name.clone()).unwrap_or_default()),
            email: RwSignal::new(claims.email),
            display: RwSignal::new(claims.name),
            groups: RwSignal::new(claims.groups),
            jit: RwSignal::new(c.is_some_and(|c| c.jit_provisioning)),
            mappings: RwSignal::new(
                c.map(|c| mappings_text(&c.group_role_mappings))
                    .unwrap_or_default(),
            ),
            enabled: RwSignal::new(c.is_none_or(|c| c.enabled)),
        }
    }

    fn fill(&self, body: &mut Value) {
        let claims = ClaimMapping {
            email: self.email.get_untracked().trim().to_owned(),
            name: self.display.get_untracked().trim().to_owned(),
            groups: self.groups.get_untracked().trim().to_owned(),
        };
        body["name"] = json!(self.name.get_untracked().trim());
        body["claims"] = json!(claims);
        body["jit_provisioning"] = json!(self.jit.get_untracked());
        body["group_role_mappings"] = mappings_value(&self.mappings.get_untracked());
        body["enabled"] = json!(self.enabled.get_untracked());
    }
}

#[component]
fn CommonFields(
    common: Common,
    error: RwSignal<Option<ApiError>>,
    #[prop(into)] what: String,
) -> impl IntoView {
    let Common {
        email,
        display,
        groups,
        jit,
        mappings,
        enabled,
        ..
    } = common;
    view! {
        <label>
            {format!("Email {what}")}
            <input name="claim-email" required bind:value=email/>
            <FieldError error field="claims/email"/>
        </label>
        <label>
            {format!("Name {what}")}
            <input name="claim-name" required bind:value=display/>
            <FieldError error field="claims/name"/>
        </label>
        <label>
            {format!("Groups {what}")}
            <input name="claim-groups" required bind:value=groups/>
            <FieldError error field="claims/groups"/>
        </label>
        <label class="wide">
            "Group → role mappings"
            <textarea name="mappings" rows="3" placeholder="engineering = developer" bind:value=mappings></textarea>
            <span class="hint">"One “group = role” per line; members of the group hold the role tenant-wide."</span>
            <FieldError error field="group_role_mappings"/>
        </label>
        <label class="check">
            <input type="checkbox" name="jit" bind:checked=jit/>
            "Create accounts at first sign-in (JIT)"
        </label>
        <label class="check">
            <input type="checkbox" name="enabled" bind:checked=enabled/>
            "Enabled"
        </label>
    }
}

/// Creates or edits an OpenID Connect connection. The client secret is
/// write-only: left empty on edit, the stored one stays.
#[component]
fn OidcForm(existing: Option<SsoConnection>, done: Callback<bool>) -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let common = Common::new(existing.as_ref());
    let issuer = RwSignal::new(
        existing
            .as_ref()
            .map(|c| c.issuer.clone())
            .unwrap_or_default(),
    );
    let client_id = RwSignal::new(
        existing
            .as_ref()
            .map(|c| c.client_id.clone())
            .unwrap_or_default(),
    );
    let secret = RwSignal::new(String::new());
    let scopes = RwSignal::new(
        existing
            .as_ref()
            .map(|c| c.scopes.join(" "))
            .unwrap_or_else(|| "openid email profile".into()),
    );
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let id = existing.as_ref().map(|c| c.id);
    let has_secret = existing.as_ref().is_some_and(|c| c.has_client_secret);
    let callback = existing.as_ref().map(|c| c.callback_path.clone());

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let mut body = json!({
            "client_id": client_id.get_untracked().trim(),
            "scopes": scopes.get_untracked().split_whitespace().collect::<Vec<_>>(),
        });
        common.fill(&mut body);
        // Sent on edit too: the API fetches the discovery document again.
        body["issuer"] = json!(issuer.get_untracked().trim());
        let s = secret.get_untracked();
        if !s.is_empty() {
            body["client_secret"] = json!(s);
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = match id {
                None => {
                    api::post::<_, SsoConnection>(&format!("/tenants/{t}/sso-connections"), &body)
                        .await
                        .map(|_| ())
                }
                Some(id) => {
                    api::call(
                        "PATCH",
                        &format!("/tenants/{t}/sso-connections/{id}"),
                        Some(body),
                    )
                    .await
                }
            };
            busy.set(false);
            match result {
                Ok(()) => {
                    ui.ok(if id.is_none() {
                        "Connection created"
                    } else {
                        "Connection saved"
                    });
                    done.run(true);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <form class="subcard form-grid" on:submit=submit aria-label="OpenID Connect connection">
            <h3 class="wide">{if id.is_none() { "New OpenID Connect connection" } else { "Edit OpenID Connect connection" }}</h3>
            <label>
                "Name"
                <input name="name" required maxlength="200" bind:value=common.name/>
                <FieldError error field="name"/>
            </label>
            <label>
                "Issuer"
                <input name="issuer" type="url" required placeholder="https://login.example.com" bind:value=issuer/>
                <span class="hint">"Its discovery document is fetched when you save."</span>
                <FieldError error field="issuer"/>
            </label>
            <label>
                "Client id"
                <input name="client-id" required maxlength="512" bind:value=client_id/>
                <FieldError error field="client_id"/>
            </label>
            <label>
                "Client secret"
                <input name="client-secret" type="password" autocomplete="off"
                    placeholder=if has_secret { "stored — leave empty to keep" } else { "none" }
                    bind:value=secret/>
                <span class="hint">"Write-only: never shown again."</span>
                <FieldError error field="client_secret"/>
            </label>
            <label>
                "Scopes"
                <input name="scopes" bind:value=scopes/>
                <span class="hint">"Space-separated; openid is always asked for."</span>
                <FieldError error field="scopes"/>
            </label>
            <CommonFields common error what="claim"/>
            {callback.map(|path| view! {
                <p class="wide hint">"Redirect URI to register at the provider: "<code>{format!("{}{path}", origin())}</code></p>
            })}
            <div class="form-foot">
                <FormError error/>
                <button type="button" class="secondary" on:click=move |_| done.run(false)>"Cancel"</button>
                <button type="submit" disabled=move || busy.get()>{if id.is_none() { "Create connection" } else { "Save" }}</button>
            </div>
        </form>
    }
}

const NAME_ID_FORMATS: [(&str, &str); 4] = [
    ("", "Any (the provider chooses)"),
    (
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        "Email address",
    ),
    (
        "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
        "Persistent",
    ),
    (
        "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        "Transient",
    ),
];

/// Creates or edits a SAML 2.0 connection: the provider's metadata by URL
/// or pasted, and what we ask of it. Our side (entity id, ACS, metadata)
/// is shown once the connection exists.
#[component]
fn SamlForm(existing: Option<SsoConnection>, done: Callback<bool>) -> impl IntoView {
    let session = Session::get();
    let ui = Ui::get();
    let common = Common::new(existing.as_ref());
    let saml = existing.as_ref().and_then(|c| c.saml.clone());
    let metadata_url = RwSignal::new(
        saml.as_ref()
            .and_then(|s| s.idp_metadata_url.clone())
            .unwrap_or_default(),
    );
    let metadata_xml = RwSignal::new(String::new());
    let name_id = RwSignal::new(
        saml.as_ref()
            .and_then(|s| s.name_id_format.clone())
            .unwrap_or_default(),
    );
    let idp_initiated = RwSignal::new(saml.as_ref().is_some_and(|s| s.allow_idp_initiated));
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let id = existing.as_ref().map(|c| c.id);
    let ours = existing.as_ref().map(|c| {
        let sp = c
            .saml
            .as_ref()
            .map(|s| s.sp_metadata_path.clone())
            .unwrap_or_default();
        (
            c.client_id.clone(),
            c.callback_path.clone(),
            sp,
            c.issuer.clone(),
        )
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let t = session.tenant();
        let mut body = json!({ "allow_idp_initiated": idp_initiated.get_untracked() });
        common.fill(&mut body);
        let (url, xml) = (metadata_url.get_untracked(), metadata_xml.get_untracked());
        if !xml.trim().is_empty() {
            body["idp_metadata_xml"] = json!(xml);
        } else if !url.trim().is_empty() {
            body["idp_metadata_url"] = json!(url.trim());
        }
        let format = name_id.get_untracked();
        if !format.is_empty() {
            body["name_id_format"] = json!(format);
        } else if id.is_some() {
            body["clear_name_id_format"] = json!(true);
        }
        busy.set(true);
        leptos::task::spawn_local(async move {
            let result = match id {
                None => {
                    api::post::<_, SsoConnection>(&format!("/tenants/{t}/saml-connections"), &body)
                        .await
                        .map(|_| ())
                }
                Some(id) => {
                    api::call(
                        "PATCH",
                        &format!("/tenants/{t}/saml-connections/{id}"),
                        Some(body),
                    )
                    .await
                }
            };
            busy.set(false);
            match result {
                Ok(()) => {
                    ui.ok(if id.is_none() {
                        "Connection created"
                    } else {
                        "Connection saved"
                    });
                    done.run(true);
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <form class="subcard form-grid" on:submit=submit aria-label="SAML connection">
            <h3 class="wide">{if id.is_none() { "New SAML 2.0 connection" } else { "Edit SAML 2.0 connection" }}</h3>
            {ours.map(|(entity, acs, metadata, idp)| {
                let base = origin();
                view! {
                    <dl class="facts wide">
                        <dt>"Identity provider"</dt><dd>{idp}</dd>
                        <dt>"Our entity id"</dt><dd><code>{entity}</code></dd>
                        <dt>"ACS URL"</dt><dd><code>{format!("{base}{acs}")}</code></dd>
                        <dt>"SP metadata"</dt><dd><a href=format!("{base}{metadata}") download="sp-metadata.xml">"Download SP metadata"</a></dd>
                    </dl>
                }
            })}
            <label>
                "Name"
                <input name="name" required maxlength="200" bind:value=common.name/>
                <FieldError error field="name"/>
            </label>
            <label>
                "IdP metadata URL"
                <input name="metadata-url" type="url" placeholder="https://idp.example.com/metadata" bind:value=metadata_url/>
                <span class="hint">{if id.is_none() { "Fetched when you save. Or paste the XML below." } else { "Fetched again when you save. Leave it and the XML empty to keep the current metadata." }}</span>
                <FieldError error field="idp_metadata_url"/>
            </label>
            <label>
                "NameID format"
                <select name="name-id-format" bind:value=name_id>
                    {NAME_ID_FORMATS.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                </select>
                <FieldError error field="name_id_format"/>
            </label>
            <label class="wide">
                "IdP metadata XML"
                <textarea name="metadata-xml" rows="4" placeholder="<EntityDescriptor …>" bind:value=metadata_xml></textarea>
                <FieldError error field="idp_metadata_xml"/>
            </label>
            <CommonFields common error what="attribute"/>
            <label class="check">
                <input type="checkbox" name="idp-initiated" bind:checked=idp_initiated/>
                "Accept sign-ins started at the identity provider"
            </label>
            <div class="form-foot">
                <FormError error/>
                <button type="button" class="secondary" on:click=move |_| done.run(false)>"Cancel"</button>
                <button type="submit" disabled=move || busy.get()>{if id.is_none() { "Create connection" } else { "Save" }}</button>
            </div>
        </form>
    }
}
