//! `GET /api/openapi.yaml` and `GET /api/openapi.json`: the OpenAPI 3.1
//! document that describes the API (`openapi.yaml` at the repository root).

use omni_shared::Error;
use omni_shared::http::{Method, Request, serve};
use spin_sdk::http::{IncomingRequest, Response};

const YAML: &str = include_str!("../../../openapi.yaml");
const JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

fn document(request: &Request) -> Result<Response, Error> {
    let (content_type, body) = if request.path().ends_with(".json") {
        ("application/json", JSON)
    } else {
        ("application/yaml", YAML)
    };
    Ok(Response::builder()
        .status(200)
        .header("content-type", content_type)
        .body(body)
        .build())
}

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "openapi", &[(Method::GET, document)]).await
}
