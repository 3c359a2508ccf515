//! Serving HTTP like `spin up`: accept connections, route each request by
//! path, build the request Spin gives a component ([`crate::headers`]), run
//! a fresh instance of the matched component ([`crate::instance`]), and
//! answer with its response, or an empty error status where Spin gives one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use wasmtime_wasi_http::body::HyperOutgoingBody;
use wasmtime_wasi_http::io::TokioIo;

use crate::headers::{append_spin_headers, non_utf8_header, set_request_uri};
use crate::instance::{AppContext, ComponentRuntime, Invocation};
use crate::logs::Logs;
use crate::routes::Router;
use crate::stats::Stats;

/// A running app. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningApp {
    addr: SocketAddr,
    logs: Logs,
    stats: Arc<Stats>,
    task: JoinHandle<()>,
}

impl RunningApp {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The app's log.
    pub fn logs(&self) -> &Logs {
        &self.logs
    }

    /// What each component has done so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Serves until the process is stopped.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        (&mut self.task).await.context("the server stopped")
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The routes and the components behind them.
pub(crate) struct Server {
    pub router: Router,
    pub components: HashMap<String, Arc<ComponentRuntime>>,
    pub app: Arc<AppContext>,
}

/// Serves `server` on `listener` until the returned app is dropped.
pub(crate) fn serve(listener: TcpListener, server: Server) -> anyhow::Result<RunningApp> {
    let addr = listener.local_addr()?;
    let (logs, stats) = (server.app.logs.clone(), server.app.stats.clone());
    let task = tokio::spawn(accept_loop(listener, Arc::new(server)));
    Ok(RunningApp {
        addr,
        logs,
        stats,
        task,
    })
}

async fn accept_loop(listener: TcpListener, server: Arc<Server>) {
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                server.app.logs.line("host", &format!("accept failed: {e}"));
                continue;
            }
        };
        let server = server.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let server = server.clone();
                async move { server.handle(request, client).await }
            });
            // A connection error (the client went away) ends only that
            // connection.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn empty_response(status: u16) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
    Ok(hyper::Response::builder().status(status).body(
        Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    )?)
}

impl Server {
    async fn handle(
        self: Arc<Self>,
        mut request: hyper::Request<Incoming>,
        client: SocketAddr,
    ) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
        let logs = &self.app.logs;
        let Some(route) = self.router.route(request.uri().path()) else {
            return empty_response(404);
        };
        // Failing Spin's checks of the authority, a request gets no
        // response at all.
        let host = set_request_uri(&mut request)?;
        if let Some(name) = non_utf8_header(&request) {
            let error = anyhow!("the value of request header {name:?} is not UTF-8");
            logs.line("host", &format!("Error processing request: {error:?}"));
            return empty_response(500);
        }
        append_spin_headers(&mut request, &host, &route, client)?;

        let component = self
            .components
            .get(&route.component)
            .with_context(|| format!("unknown component ID {:?}", route.component))?
            .clone();
        let Invocation { response, task } = self.app.invoke(component, request)?;
        match response.await {
            Ok(Ok(response)) => {
                // The guest may still be streaming the body; report a late failure.
                let logs = logs.clone();
                tokio::spawn(async move {
                    if let Ok(Err(e)) = task.await {
                        logs.line(
                            "host",
                            &format!("Component error after response started: {e:?}"),
                        );
                    }
                });
                Ok(response)
            }
            Ok(Err(code)) => {
                let error: anyhow::Error =
                    anyhow!("{code:?}").context("guest failed to produce a response");
                logs.line("host", &format!("Error processing request: {error:?}"));
                empty_response(500)
            }
            Err(_) => {
                let error = match task.await {
                    Ok(Ok(())) => anyhow!("guest failed to produce a response prior to returning"),
                    Ok(Err(e)) => e,
                    Err(e) => anyhow::Error::new(e).context("guest invocation panicked"),
                };
                logs.line("host", &format!("Error processing request: {error:?}"));
                empty_response(500)
            }
        }
    }
}
