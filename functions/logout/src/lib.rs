//! `/api/logout` and `/api/logout-all`: end one session, or all of them.

use omni_shared::handlers::accounts;
use omni_shared::http::{Method, Paths, serve_paths};
use spin_sdk::http::{IncomingRequest, Response};

const PATHS: Paths = &[
    ("/api/logout", &[(Method::POST, accounts::logout)]),
    ("/api/logout-all", &[(Method::POST, accounts::logout_all)]),
];

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve_paths(request, "logout", PATHS).await
}
