//! `GET /api/users/:id` and the catch-all for unknown `/api/` paths.

use omni_testkit::spawn_app;
use reqwest::Method;

use crate::problems::assert_problem;

#[tokio::test(flavor = "multi_thread")]
async fn a_user_profile_is_public() {
    let app = spawn_app().await;
    let ada = app.create_user("ada").await;
    let response = app.get(&format!("/api/users/{}", ada.id), None).await;
    assert_eq!(response.status, 200);
    let user = response.json();
    assert_eq!(user["id"], ada.id);
    assert_eq!(user["username"], "ada");
    assert!(user.get("password_hash").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_or_malformed_user_id_is_a_404() {
    let app = spawn_app().await;
    for path in [
        "/api/users/118407598460190720",
        "/api/users/abc",
        "/api/users/-1",
        "/api/users/99999999999999999999",
    ] {
        assert_problem(&app.get(path, None).await, 404);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_answers_405_with_allow_for_other_methods() {
    let app = spawn_app().await;
    let response = app.send(app.request(Method::DELETE, "/api/users/1")).await;
    assert_problem(&response, 405);
    assert_eq!(response.header("allow"), Some("GET"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_api_path_is_a_problem_404_for_any_method_that_echoes_nothing() {
    let app = spawn_app().await;
    for method in [Method::GET, Method::POST, Method::DELETE] {
        let response = app
            .send(app.request(method, "/api/no/such/<script>thing"))
            .await;
        let body = assert_problem(&response, 404);
        let text = body.to_string();
        assert!(!text.contains("such") && !text.contains("script"), "{text}");
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    }
    assert_problem(&app.get("/api", None).await, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_path_outside_the_api_is_the_websites_404_page() {
    let app = spawn_app().await;
    let response = app.get("/nothing-here", None).await;
    assert_eq!(response.status, 404);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(response.text().contains("<h1>Page not found</h1>"));
}
