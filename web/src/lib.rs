//! The admin console: Leptos, rendered on the server (`ssr`) and hydrated in
//! the browser (`hydrate`). It is a client of the admin API under `/api/v1`:
//! the server renders the shell and loading states, and the browser fetches
//! every piece of data with the signed-in person's session, so the console
//! can do nothing the API would not let that person do.

pub mod api;
pub mod app;
mod pages;
pub mod qr;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;

/// The browser entry point, called by the hydration script.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
