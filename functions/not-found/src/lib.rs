//! `/api/...`: any path under `/api/` that no other component owns is a
//! problem-details 404, whatever the method.

use omni_shared::handlers::not_found;
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
fn handle(request: IncomingRequest) -> Response {
    not_found(&request)
}
