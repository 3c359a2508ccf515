//! `/api/posts/:id/writeup`: a post's write-up, fetched from its source,
//! rendered and sanitised.

use omni_shared::handlers::discovery;
use omni_shared::http::{Method, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "writeup", &[(Method::GET, discovery::writeup)]).await
}
