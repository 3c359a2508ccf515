//! `/api/comments/:id`: editing and deleting a comment.

use omni_shared::handlers::comments;
use omni_shared::http::{Method, Routes, serve};
use spin_sdk::http::{IncomingRequest, Response};

const ROUTES: Routes = &[
    (Method::PATCH, comments::update),
    (Method::DELETE, comments::delete),
];

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "comment", ROUTES).await
}
