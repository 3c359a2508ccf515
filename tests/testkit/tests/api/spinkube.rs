//! Each SpinApp in k8s/spinkube runs a subset of the components (like
//! `spin up --component-id`). Run each subset through the test host: it
//! answers its own components' routes and 404s the rest.

use omni_test_host::manifest::Manifest;
use omni_testkit::{AppOptions, spawn_app_with, workspace_root};
use serde::Deserialize;

#[derive(Deserialize)]
struct SpinApp {
    kind: String,
    metadata: Metadata,
    spec: Spec,
}

#[derive(Deserialize)]
struct Metadata {
    name: String,
}

#[derive(Deserialize)]
struct Spec {
    components: Vec<String>,
}

fn spinapps() -> Vec<SpinApp> {
    let text =
        std::fs::read_to_string(workspace_root().join("k8s/spinkube/spinapps.yaml")).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| SpinApp::deserialize(document).unwrap())
        .filter(|app| app.kind == "SpinApp")
        .collect()
}

/// A concrete path for a route pattern.
fn path_for(route: &str) -> String {
    route
        .replace(":id", "118407598460190720")
        .replace("/...", "/no-such-thing")
}

#[tokio::test(flavor = "multi_thread")]
async fn each_spinapp_subset_answers_its_own_routes_and_404s_the_others() {
    let manifest = Manifest::load(&workspace_root().join("spin.toml")).unwrap();
    let apps = spinapps();
    assert_eq!(
        apps.iter()
            .map(|a| a.metadata.name.as_str())
            .collect::<Vec<_>>(),
        ["omni-read", "omni-write", "omni-auth"]
    );
    for spinapp in apps {
        let app = spawn_app_with(AppOptions {
            component_ids: spinapp.spec.components.clone(),
            // The same spin.toml, named explicitly: openapi.yaml describes
            // the whole app, and a subset 404s what the whole app serves.
            manifest: Some(workspace_root().join("spin.toml")),
            ..AppOptions::default()
        })
        .await;
        for trigger in &manifest.triggers {
            let path = path_for(&trigger.route);
            let before = app.host().stats().component(&trigger.component).requests;
            let response = app.get(&path, None).await;
            let reached = app.host().stats().component(&trigger.component).requests - before;
            let name = &spinapp.metadata.name;
            if spinapp.spec.components.contains(&trigger.component) {
                assert_eq!(
                    reached, 1,
                    "{name}: {path} should reach {}",
                    trigger.component
                );
            } else {
                assert_eq!(
                    reached, 0,
                    "{name}: {path} must not run {}",
                    trigger.component
                );
                assert_eq!(response.status, 404, "{name}: {path} is not served here");
            }
        }
    }
}

/// The website's form POSTs that SpinKube sends to each writing SpinApp
/// (k8s/spinkube/httproute.yaml), with the component that must answer.
const WEBSITE_POSTS: &[(&str, &str, &str)] = &[
    ("omni-write", "/new", "web-projects"),
    (
        "omni-write",
        "/posts/118407598460190720/comments",
        "web-projects",
    ),
    (
        "omni-write",
        "/comments/118407598460190720/delete",
        "web-projects",
    ),
    ("omni-write", "/profile/edit", "web-people"),
    ("omni-auth", "/signup", "web-account"),
    ("omni-auth", "/login", "web-account"),
    ("omni-auth", "/logout", "web-account"),
];

#[tokio::test(flavor = "multi_thread")]
async fn the_website_forms_reach_their_component_in_the_spinapp_that_takes_their_posts() {
    for spinapp in spinapps().into_iter().filter(|app| {
        WEBSITE_POSTS
            .iter()
            .any(|(name, ..)| *name == app.metadata.name)
    }) {
        let app = spawn_app_with(AppOptions {
            component_ids: spinapp.spec.components.clone(),
            manifest: Some(workspace_root().join("spin.toml")),
            ..AppOptions::default()
        })
        .await;
        let name = &spinapp.metadata.name;
        for (_, path, component) in WEBSITE_POSTS.iter().filter(|(n, ..)| n == name) {
            let before = app.host().stats().component(component).requests;
            let response = app
                .send(
                    app.request(reqwest::Method::POST, path)
                        .header("content-type", "application/x-www-form-urlencoded")
                        .body("csrf=none"),
                )
                .await;
            let reached = app.host().stats().component(component).requests - before;
            assert_eq!(reached, 1, "{name}: POST {path} should reach {component}");
            // The component itself refused the forged form.
            assert_eq!(response.status, 403, "{name}: POST {path}");
        }
    }
}
