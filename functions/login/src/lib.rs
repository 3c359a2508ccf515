//! `POST /api/login`: exchange a username and password for a token.

use omni_shared::handlers::accounts;
use omni_shared::http::{Method, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "login", &[(Method::POST, accounts::login)]).await
}
