//! Kubernetes probes: `/healthz` and `/livez` say the component runs;
//! `/readyz` also asks the database.

use serde::Serialize;
use spin_sdk::http::Response;

use crate::context::Context;
use crate::error::Error;
use crate::http::{self, Request};
use crate::store;

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

/// `GET /healthz`, `/livez`, `/readyz`. Only readiness touches the
/// configuration and the database: an outage or a bad setting must take
/// pods out of the Service (503, naming the variable at fault), not get them
/// restarted. A pod that could not sign or check a token is not ready.
pub fn get(request: &Request) -> Result<Response, Error> {
    if request.path() == "/readyz" {
        let context = Context::load()?;
        context.jwt_secret()?;
        store::ping(context.db()?)?;
    }
    http::ok(&Status { status: "ok" })
}
