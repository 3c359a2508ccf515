//! `/api/me`: the caller's own profile.

use omni_shared::handlers::accounts;
use omni_shared::http::{Method, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(
        request,
        "me",
        &[
            (Method::GET, accounts::me),
            (Method::PATCH, accounts::update_me),
        ],
    )
    .await
}
