//! `/api/me`: the caller's own profile.

use omni_shared::handlers::accounts;
use omni_shared::http::{Method, Routes, serve};
use spin_sdk::http::{IncomingRequest, Response};

const ROUTES: Routes = &[
    (Method::GET, accounts::me),
    (Method::PATCH, accounts::update_me),
];

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "me", ROUTES).await
}
