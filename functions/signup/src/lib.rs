//! `POST /api/signup`: create an account.

use omni_shared::handlers::accounts;
use omni_shared::http::{Method, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "signup", &[(Method::POST, accounts::signup)]).await
}
