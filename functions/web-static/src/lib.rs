//! `/static/...`: the website's stylesheet and icon, under content-hashed
//! names, cached for a year.

use omni_shared::web::serve_asset;
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve_asset(request).await
}
