//! The website's Home (`/`), project pages (`/new`, `/posts/:id`, its
//! edit, delete and comment forms) and comment forms (`/comments/:id/…`).

use omni_shared::web::{projects, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "web-projects", projects::respond).await
}
