//! Kubernetes probes: `/healthz` and `/livez` say the component runs;
//! `/readyz` also asks the database.

use serde::Serialize;
use spin_sdk::http::Response;

use crate::config::Config;
use crate::db;
use crate::error::Error;
use crate::http::{self, Request};

#[derive(Serialize)]
struct Status {
    status: &'static str,
}

/// `GET /healthz`, `/livez`, `/readyz`. Only readiness touches the
/// database: a database outage must take pods out of the Service, not get
/// them restarted.
pub fn get(request: &Request) -> Result<Response, Error> {
    if request.path() == "/readyz" {
        let config = Config::load()?;
        let db = db::connect(&config)?;
        db.query("SELECT 1 AS ok", &[])?;
    }
    http::ok(&Status { status: "ok" })
}
