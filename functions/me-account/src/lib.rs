//! `/api/me/password`, `/api/me/export` and `/api/me/deletion`: what a
//! person can do with their own account.

use omni_shared::handlers::accounts;
use omni_shared::http::{Method, Paths, serve_paths};
use spin_sdk::http::{IncomingRequest, Response};

const PATHS: Paths = &[
    (
        "/api/me/password",
        &[(Method::PUT, accounts::change_password)],
    ),
    ("/api/me/export", &[(Method::GET, accounts::export)]),
    ("/api/me/deletion", &[(Method::POST, accounts::delete_me)]),
];

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve_paths(request, "me-account", PATHS).await
}
