//! `/api/comments/:id`: editing and deleting a comment.

use omni_shared::handlers::comments;
use omni_shared::http::{Method, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(
        request,
        "comment",
        &[
            (Method::PATCH, comments::update),
            (Method::DELETE, comments::delete),
        ],
    )
    .await
}
