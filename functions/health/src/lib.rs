//! `/healthz`, `/livez`, `/readyz`: the probes every SpinApp carries.

use omni_shared::handlers::health;
use omni_shared::http::{Method, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "health", &[(Method::GET, health::get)]).await
}
