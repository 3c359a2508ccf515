//! The website: server-rendered HTML pages over the same storage, rules and
//! domain types as the API, with no HTTP hop between them.
//!
//! Each page family is one Spin component (`functions/web-*`) whose
//! `#[http_component]` calls [`serve`] with its family's `respond`
//! ([`projects::respond`], [`people::respond`], [`account::respond`],
//! [`discovery::respond`]), so
//! each component carries only its own pages. Static files come from
//! [`serve_asset`] and every other path from [`serve_not_found`].
//! Pages work without JavaScript: links, and forms that POST and answer
//! with a 303 to the page to show next (or the form again, with its errors
//! in place). Sessions and CSRF protection are in [`session`].

pub mod assets;
pub mod forms;
pub mod paging;
pub mod place;
pub mod session;
pub mod templates;

pub mod account;
pub mod discovery;
pub mod people;
pub mod projects;

use maud::Markup;
use spin_sdk::http::{IncomingRequest, Response};

use crate::error::{Error, RETRY_AFTER_SECONDS};
use std::time::Instant;

use crate::cache;
use crate::config::Config;
use crate::http::{self, Method, Request};
use crate::store::sessions::Session;
use crate::store::users::User;
use crate::web::forms::Form;
use crate::web::session::Visit;
use crate::web::templates::{Header, Viewer};

pub use place::{Place, Section};

/// The largest form body accepted. A project form with every field at its
/// limit, in 4-byte characters, percent-encoded, is about 90 KiB.
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// The pages' Content Security Policy: this site's own stylesheet, its
/// own images and those of write-ups from the forges' file hosts
/// (`sources::IMAGE_ORIGINS`, which a test keeps equal to this list). No
/// script at all, no inline style, forms post only here, and no site may
/// frame a page.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self' https://raw.githubusercontent.com https://gist.githubusercontent.com \
     https://user-images.githubusercontent.com https://gitlab.com https://codeberg.org; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// [`CONTENT_SECURITY_POLICY`] for a page that shows a write-up from the
/// operator's origin (`writeup_extra_origin`): its images may load too.
fn policy_with_images_from(extra: Option<&crate::sources::Origin>) -> String {
    match extra {
        Some(origin) => CONTENT_SECURITY_POLICY.replacen(
            "img-src 'self'",
            &format!("img-src 'self' {}", origin.as_source()),
            1,
        ),
        None => CONTENT_SECURITY_POLICY.to_owned(),
    }
}

/// The headers every website response carries.
fn secure(mut response: Response) -> Response {
    response.set_header("content-security-policy", CONTENT_SECURITY_POLICY);
    response.set_header("x-content-type-options", "nosniff");
    response.set_header("referrer-policy", "same-origin");
    // For browsers that predate `frame-ancestors`.
    response.set_header("x-frame-options", "DENY");
    response
}

/// A page: HTML with `status`. Pages may show who is logged in and carry
/// their CSRF token, so no cache may keep them; and they differ by the
/// session cookie, which `Vary: Cookie` tells every cache.
fn html(status: u16, markup: Markup) -> Response {
    secure(
        Response::builder()
            .status(status)
            .header("content-type", "text/html; charset=utf-8")
            .header("cache-control", "no-store")
            .header("vary", "Cookie")
            .body(markup.into_string())
            .build(),
    )
}

/// A 303 to `location`: after a form POST, the browser GETs the page to
/// show next.
fn see_other(location: &str) -> Response {
    secure(
        Response::builder()
            .status(303)
            .header("location", location)
            .header("cache-control", "no-store")
            .build(),
    )
}

/// A page for `visit`: HTML with `status`, made by `render` from the
/// page header and the CSRF token the page's forms carry, with the cookie
/// the visit set, if any.
fn page(
    visit: &Visit<'_>,
    status: u16,
    render: impl FnOnce(Header<'_>, &str) -> Markup,
) -> Result<Response, Error> {
    let csrf = visit.csrf()?;
    let markup = render(header(visit, &csrf), &csrf);
    Ok(with_cookie(visit, html(status, markup)))
}

/// A 303 for `visit`, with the cookie its visit set, if any.
fn redirect(visit: &Visit<'_>, location: &str) -> Response {
    with_cookie(visit, see_other(location))
}

fn with_cookie(visit: &Visit<'_>, mut response: Response) -> Response {
    if let Some(cookie) = visit.cookie_to_set() {
        response.set_header("set-cookie", cookie);
    }
    response
}

/// A public page through the shared response cache ([`crate::cache`]),
/// made by `render` when the cache has no current copy: only pages for a
/// visitor who is not logged in are cached, since a logged-in visitor's
/// page shows who they are; that one is made fresh and kept private. Either
/// way `Vary: Cookie`, so that no cache on the way hands one visitor's page
/// to another. `depends_on` are the versions it shows,
/// `query` the query parameters it reads.
fn cached_page(
    request: &Request,
    visit: &Visit<'_>,
    depends_on: &[&str],
    query: &[&str],
    render: impl FnOnce() -> Result<Response, Error>,
) -> Result<Response, Error> {
    let mut response = if visit.viewer().is_some() {
        cache::bypass(render()?)
    } else {
        cache::serve(request, visit.context(), depends_on, query, render)?
    };
    response.set_header("vary", "Cookie");
    Ok(secure(with_cookie(visit, response)))
}

/// The site's origin (`https://host[:port]`) as absolute links name it:
/// `public_origin`, or else the origin this request came to (Spin's
/// `spin-full-url`, built from its `Host`). The response cache keys entries
/// by that URL too, so one visitor's `Host` never lands in another's page.
fn origin(request: &Request, config: &Config) -> String {
    if let Some(origin) = &config.public_origin {
        return origin.as_source();
    }
    request
        .header_values("spin-full-url")
        .last()
        .and_then(|full| url::Url::parse(full).ok())
        .map(|url| url.origin().ascii_serialization())
        .filter(|origin| origin != "null")
        .unwrap_or_else(|| "http://localhost".into())
}

/// Sends a logged-out visitor to log in, and back to `next` afterwards.
fn login_first(visit: &Visit<'_>, next: Place) -> Response {
    redirect(visit, &templates::login_href(&next.href()))
}

/// A form POST's fields and its visit, once the form is known to come from
/// this site with this visitor's CSRF token (403 otherwise).
fn checked_form(request: &Request) -> Result<(Form, Visit<'_>), Error> {
    let form = Form::read(request)?;
    let visit = Visit::open(request)?;
    visit.check_form(&form)?;
    Ok((form, visit))
}

/// Answers a checked form POST that needs someone logged in with `act`
/// (given the form, the visit, who is logged in and their session); a
/// logged-out visitor is sent to log in, and back to `then` afterwards.
fn logged_in_post(
    request: &Request,
    then: Place,
    act: impl FnOnce(&Form, &Visit<'_>, &User, &Session) -> Result<Response, Error>,
) -> Result<Response, Error> {
    let (form, visit) = checked_form(request)?;
    match (visit.viewer(), visit.session()) {
        (Some(user), Some(session)) => act(&form, &visit, user, session),
        _ => Ok(login_first(&visit, then)),
    }
}

/// The page header for `visit`, whose forms carry `csrf`.
fn header<'a>(visit: &'a Visit<'_>, csrf: &'a str) -> Header<'a> {
    Header::Full(visit.viewer().map(|user| Viewer { user, csrf }))
}

/// A 303 to `location` that clears the cookie: the visitor's session has
/// ended.
fn logged_out(location: &str) -> Response {
    let mut response = see_other(location);
    response.set_header("set-cookie", session::cleared_cookie());
    response
}

/// The page for an error: what happened and what to do about it. A session
/// that turned out to be gone sends the visitor to log in again.
fn error_response(error: Error) -> Response {
    if let Error::Unauthorized(_) = error {
        return logged_out(&Place::Login.href());
    }
    let status = error.status();
    let mut response = html(status, templates::error_page(status, &error.detail()));
    match error {
        Error::MethodNotAllowed { allow } => response.set_header("allow", allow),
        Error::Unavailable(_) => response.set_header("retry-after", RETRY_AFTER_SECONDS),
        _ => {}
    }
    response
}

/// Reads a request whole (forms are small) after checking its method is
/// at least a valid token.
async fn read(incoming: IncomingRequest) -> Result<Request, Error> {
    let method = Method::from_bytes(incoming.method().to_string().as_bytes()).map_err(|_| {
        Error::MethodNotAllowed {
            allow: "GET, POST".into(),
        }
    })?;
    Request::read(incoming, method, MAX_FORM_BYTES).await
}

/// A page family's handler: the response for a request to one of the
/// website's places (the 404 page for another family's).
pub type Respond = fn(&Request, Place) -> Result<Response, Error>;

/// Answers a request to `component`, logging it as one JSON line as the
/// API's components do ([`http::log_request`]).
async fn answer(
    incoming: IncomingRequest,
    component: &str,
    handle: impl FnOnce(Request) -> Result<Response, Error>,
) -> Response {
    let started = Instant::now();
    let route = http::spin_route(&incoming);
    let arrival = http::Arrival::of(&incoming);
    let method = Method::from_bytes(incoming.method().to_string().as_bytes()).ok();
    let result = read(incoming).await.and_then(handle);
    let failure = result
        .as_ref()
        .err()
        .map(|error| (error.kind(), error.cause()));
    let mut response = result.unwrap_or_else(error_response);
    arrival.mark(&mut response);
    http::log_request(
        component,
        &route,
        method.as_ref(),
        started,
        &response,
        failure,
    );
    response
}

/// Serves a request to `component` with `respond`. A path that is no place
/// is the 404 page.
pub async fn serve(incoming: IncomingRequest, component: &str, respond: Respond) -> Response {
    answer(incoming, component, |request| {
        match Place::parse(request.path()) {
            Some(place) => respond(&request, place),
            None => Err(not_found()),
        }
    })
    .await
}

/// The answer for a method `place` does not take: a 405 if `place` is in
/// `section`, else the 404 page (the request reached the wrong family).
fn unanswered(place: Place, section: Section) -> Error {
    if place.section() == section {
        Error::MethodNotAllowed {
            allow: place.allow().into(),
        }
    } else {
        not_found()
    }
}

/// Serves a static file, cached forever, or the 404 page.
pub async fn serve_asset(incoming: IncomingRequest) -> Response {
    answer(incoming, "web-static", |request| {
        let asset = assets::find(request.path()).ok_or_else(not_found)?;
        if *request.method() != Method::GET {
            return Err(Error::MethodNotAllowed {
                allow: "GET".into(),
            });
        }
        let mut response = secure(
            Response::builder()
                .status(200)
                .header("content-type", asset.content_type)
                .header("cache-control", assets::CACHE_FOREVER)
                .body(asset.body.to_vec())
                .build(),
        );
        // An SVG opened on its own is a document: it may not run anything.
        response.set_header("content-security-policy", "default-src 'none'; sandbox");
        Ok(response)
    })
    .await
}

/// The 404 page, for any path outside `/api/` that no page claims.
pub async fn serve_not_found(incoming: IncomingRequest) -> Response {
    answer(incoming, "web-not-found", |_| Err(not_found())).await
}

fn not_found() -> Error {
    Error::NotFound("No page has this address.".into())
}

/// A request's method, as the page handlers match on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Other,
}

fn verb(request: &Request) -> Verb {
    let method = request.method();
    if *method == Method::GET {
        Verb::Get
    } else if *method == Method::POST {
        Verb::Post
    } else {
        Verb::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{IMAGE_ORIGINS, Origin};

    /// The origins in the CSP's `img-src`, but `'self'`.
    fn image_sources(policy: &str) -> Vec<&str> {
        policy
            .split(';')
            .find_map(|directive| directive.trim().strip_prefix("img-src "))
            .unwrap()
            .split_whitespace()
            .filter(|source| *source != "'self'")
            .collect()
    }

    #[test]
    fn the_csp_lets_images_load_exactly_from_where_write_ups_keep_them() {
        assert_eq!(image_sources(CONTENT_SECURITY_POLICY), IMAGE_ORIGINS);
        let extra = Origin::parse("http://127.0.0.1:8080").unwrap();
        let policy = policy_with_images_from(Some(&extra));
        assert_eq!(image_sources(&policy)[0], "http://127.0.0.1:8080");
        assert!(policy.contains("default-src 'none'") && !policy.contains("script-src"));
    }
}
