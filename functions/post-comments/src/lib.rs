//! `/api/posts/:id/comments`: a post's comments, and commenting.

use omni_shared::handlers::comments;
use omni_shared::http::{Method, Routes, serve};
use spin_sdk::http::{IncomingRequest, Response};

const ROUTES: Routes = &[
    (Method::GET, comments::list),
    (Method::POST, comments::create),
];

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "post-comments", ROUTES).await
}
