//! HTTP routing as Spin 3.6 does it: by path only, on the `routefinder`
//! crate. Exact segments beat `:name` segments, which beat a trailing
//! `/...` wildcard; among equal routes the first in the manifest wins; the
//! same route text claimed twice keeps the last claim and is reported.

use anyhow::Context;

/// A route table.
#[derive(Debug)]
pub struct Router {
    inner: routefinder::Router<usize>,
    entries: Vec<Entry>,
}

#[derive(Debug)]
struct Entry {
    raw: String,
    based: String,
    component: String,
    wildcard: bool,
}

/// A route that was written twice: `replaced` never serves it.
#[derive(Debug, PartialEq, Eq)]
pub struct Duplicate {
    /// The route.
    pub route: String,
    /// The component whose claim lost.
    pub replaced: String,
    /// The component that serves the route.
    pub effective: String,
}

/// A matched request.
#[derive(Debug, PartialEq, Eq)]
pub struct RouteMatch {
    /// The component to run.
    pub component: String,
    /// The route as written in the manifest (`spin-raw-component-route`).
    pub raw_route: String,
    /// The route with its trailing slash removed (`spin-matched-route`).
    pub based_route: String,
    /// The raw route without a trailing `/...` (`spin-component-route`).
    pub component_route: String,
    /// What the wildcard matched (`spin-path-info`), or empty.
    pub path_info: String,
    /// Each `:name` segment's value (`spin-path-match-<name>`).
    pub params: Vec<(String, String)>,
}

impl Router {
    /// Builds the table from `(route, component)` pairs in manifest order.
    pub fn build<'a>(
        routes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> anyhow::Result<(Self, Vec<Duplicate>)> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut duplicates = Vec::new();
        for (raw, component) in routes {
            let based = sanitize(raw);
            let wildcard = based.ends_with("/...") || based.ends_with("/*");
            if let Some(existing) = entries.iter_mut().find(|e| e.raw == raw) {
                // Same text: the later claim wins, in the earlier place.
                duplicates.push(Duplicate {
                    route: if based.is_empty() {
                        "/".into()
                    } else {
                        based.clone()
                    },
                    replaced: std::mem::replace(&mut existing.component, component.to_owned()),
                    effective: component.to_owned(),
                });
                continue;
            }
            entries.push(Entry {
                raw: raw.to_owned(),
                based,
                component: component.to_owned(),
                wildcard,
            });
        }
        let mut inner = routefinder::Router::new();
        for (index, entry) in entries.iter().enumerate() {
            let spec = match entry.based.strip_suffix("/...") {
                Some(prefix) => format!("{prefix}/*"),
                None => entry.based.clone(),
            };
            inner
                .add(spec.as_str(), index)
                .map_err(anyhow::Error::msg)
                .with_context(|| {
                    format!(
                        "Error parsing route {} associated with component {}",
                        entry.based, entry.component
                    )
                })?;
        }
        Ok((Self { inner, entries }, duplicates))
    }

    /// The best route for `path`, if any.
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let found = self.inner.best_match(path)?;
        let entry = &self.entries[*found.handler()];
        let captures = found.captures();
        let path_info = if entry.wildcard {
            let captured = captures.wildcard().unwrap_or_default();
            let trailing = if path.ends_with('/') { "/" } else { "" };
            match (captured.is_empty(), trailing) {
                (true, slash) => slash.to_owned(),
                (false, slash) => format!("/{captured}{slash}"),
            }
        } else {
            String::new()
        };
        Some(RouteMatch {
            component: entry.component.clone(),
            raw_route: entry.raw.clone(),
            based_route: entry.based.clone(),
            component_route: entry
                .raw
                .strip_suffix("/...")
                .unwrap_or(&entry.raw)
                .to_owned(),
            path_info,
            params: captures
                .params()
                .iter()
                .map(|c| (c.name().to_owned(), c.value().to_owned()))
                .collect(),
        })
    }

    /// The `(route, component)` pairs in effect, for the startup listing.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.raw.as_str(), e.component.as_str()))
    }
}

/// Spin's route normalisation: a leading `/` added, one trailing `/` removed.
fn sanitize(route: &str) -> String {
    let absolute = if route.starts_with('/') {
        route.to_owned()
    } else {
        format!("/{route}")
    };
    absolute
        .strip_suffix('/')
        .map(str::to_owned)
        .unwrap_or(absolute)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::build(routes.iter().copied()).unwrap().0
    }

    fn component(router: &Router, path: &str) -> Option<String> {
        router.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_beats_a_parameter_which_beats_a_wildcard() {
        let r = router(&[
            ("/api/...", "catch-all"),
            ("/api/posts/:id", "post"),
            ("/api/posts/new", "new"),
        ]);
        assert_eq!(component(&r, "/api/posts/new").as_deref(), Some("new"));
        assert_eq!(component(&r, "/api/posts/7").as_deref(), Some("post"));
        assert_eq!(
            component(&r, "/api/posts/7/x").as_deref(),
            Some("catch-all")
        );
        assert_eq!(component(&r, "/api").as_deref(), Some("catch-all"));
        assert_eq!(component(&r, "/other"), None);
    }

    #[test]
    fn the_longest_wildcard_prefix_wins() {
        let r = router(&[
            ("/...", "root"),
            ("/one/...", "one"),
            ("/one/:x/...", "one-x"),
        ]);
        assert_eq!(component(&r, "/one/two/three").as_deref(), Some("one-x"));
        assert_eq!(component(&r, "/one").as_deref(), Some("one"));
        assert_eq!(component(&r, "/two").as_deref(), Some("root"));
    }

    #[test]
    fn a_duplicate_route_keeps_the_last_claim_and_is_reported() {
        let (r, duplicates) = Router::build([("/foo", "a"), ("/foo", "c")]).unwrap();
        assert_eq!(component(&r, "/foo").as_deref(), Some("c"));
        assert_eq!(
            duplicates,
            [Duplicate {
                route: "/foo".into(),
                replaced: "a".into(),
                effective: "c".into()
            }]
        );
    }

    #[test]
    fn matching_ignores_the_trailing_slash() {
        let r = router(&[("/api/posts/:id", "post")]);
        let m = r.route("/api/posts/123/").unwrap();
        assert_eq!(m.params, [("id".to_owned(), "123".to_owned())]);
    }

    #[test]
    fn a_parameter_route_reports_spins_header_values() {
        let r = router(&[("/api/posts/:id", "post")]);
        let m = r.route("/api/posts/123").unwrap();
        assert_eq!(m.raw_route, "/api/posts/:id");
        assert_eq!(m.based_route, "/api/posts/:id");
        assert_eq!(m.component_route, "/api/posts/:id");
        assert_eq!(m.path_info, "");
    }

    #[test]
    fn a_wildcard_route_reports_spins_header_values() {
        let r = router(&[("/api/...", "api")]);
        let m = r.route("/api/foo/bar").unwrap();
        assert_eq!(m.based_route, "/api/...");
        assert_eq!(m.component_route, "/api");
        assert_eq!(m.path_info, "/foo/bar");
        assert_eq!(r.route("/api").unwrap().path_info, "");
        assert_eq!(r.route("/api/").unwrap().path_info, "/");
        assert_eq!(r.route("/api/foo/bar/").unwrap().path_info, "/foo/bar/");
    }

    #[test]
    fn a_root_wildcard_has_an_empty_component_route() {
        let r = router(&[("/...", "all")]);
        let m = r.route("/other").unwrap();
        assert_eq!(m.component_route, "");
        assert_eq!(m.path_info, "/other");
    }

    #[test]
    fn the_root_route_matches_only_the_root() {
        let r = router(&[("/", "root")]);
        assert_eq!(component(&r, "/").as_deref(), Some("root"));
        assert_eq!(component(&r, "/other"), None);
        assert_eq!(r.route("/").unwrap().based_route, "");
    }

    #[test]
    fn equal_routes_written_differently_go_to_the_first() {
        let (r, duplicates) = Router::build([("/foo", "a"), ("/foo/", "b")]).unwrap();
        assert!(duplicates.is_empty());
        assert_eq!(component(&r, "/foo").as_deref(), Some("a"));
    }
}
