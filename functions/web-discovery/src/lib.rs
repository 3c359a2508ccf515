//! The website's search page (`/search`), Atom feeds (`/feed.atom`,
//! `/users/:id/feed.atom`), sitemap (`/sitemap.xml`, `/sitemaps/…`) and
//! `/robots.txt`.

use omni_shared::web::{discovery, serve};
use spin_sdk::http::{IncomingRequest, Response};

#[spin_sdk::http_component]
async fn handle(request: IncomingRequest) -> Response {
    serve(request, "web-discovery", discovery::respond).await
}
