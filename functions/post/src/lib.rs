//! `/api/posts/:id`: one post, and its author's edits.

use omni_shared::handlers::posts;
use omni_shared::http::{Method, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(
        request,
        "post",
        &[
            (Method::GET, posts::get),
            (Method::PATCH, posts::update),
            (Method::DELETE, posts::delete),
        ],
    )
    .await
}
