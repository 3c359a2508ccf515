//! `/api/search`: projects matching a query, best match first.

use omni_shared::handlers::discovery;
use omni_shared::http::{Method, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "search", &[(Method::GET, discovery::search)]).await
}
