//! The website's profiles (`/users/:id`) and the profile form
//! (`/profile/edit`).

use omni_shared::web::{people, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "web-people", people::respond).await
}
