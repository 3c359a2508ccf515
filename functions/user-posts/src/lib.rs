//! `GET /api/users/:id/posts`: one user's posts.

use omni_shared::handlers::users;
use omni_shared::http::{Method, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "user-posts", &[(Method::GET, users::posts)]).await
}
