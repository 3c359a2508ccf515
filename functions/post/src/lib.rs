//! `/api/posts/:id`: one post, and its author's edits.

use omni_shared::handlers::posts;
use omni_shared::http::{Method, Routes, serve};
use spin_sdk::http::{IncomingRequest, Response};

const ROUTES: Routes = &[
    (Method::GET, posts::get),
    (Method::PATCH, posts::update),
    (Method::DELETE, posts::delete),
];

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "post", ROUTES).await
}
