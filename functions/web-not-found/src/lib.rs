//! `/...`: the website's 404 page for every path outside `/api/` that no
//! other component owns, whatever the method.

use omni_shared::web::serve_not_found;
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve_not_found(request).await
}
