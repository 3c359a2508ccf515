//! `/api/posts`: the list of every post, and creating one.

use omni_shared::handlers::posts;
use omni_shared::http::{Method, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(
        request,
        "posts",
        &[(Method::GET, posts::list), (Method::POST, posts::create)],
    )
    .await
}
