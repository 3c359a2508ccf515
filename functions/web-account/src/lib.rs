//! The website's `/signup`, `/login` and `/logout`.

use omni_shared::web::{account, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "web-account", account::respond).await
}
