//! The response cache on Redis, the store SpinKube gives it, with Spin
//! 3.6.3's Redis semantics in the test host.

use omni_testkit::{AppOptions, Redis, spawn_app_with};

#[tokio::test(flavor = "multi_thread")]
async fn a_public_read_is_served_from_redis_the_second_time() {
    // A server of its own: entries are keyed by path and versions, so apps
    // sharing one Redis would see each other's.
    let redis = Redis::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(AppOptions {
        runtime_config_file: Some(redis.runtime_config(dir.path()).unwrap()),
        ..AppOptions::default()
    })
    .await;
    let ada = app.create_user("ada").await;
    let post = app
        .post(
            "/api/posts",
            &serde_json::json!({ "title": "Cached", "markdown_url": "https://example.com/a.md" }),
            Some(&ada.token),
        )
        .await;
    let post_path = post.header("location").unwrap().to_owned();
    // A list depends on two version keys, a post on two: both are read
    // before the entry is.
    for path in ["/api/posts", post_path.as_str()] {
        let first = app.get(path, None).await;
        assert_eq!(first.header("x-cache"), Some("miss"), "{path}");
        let second = app.get(path, None).await;
        assert_eq!(second.header("x-cache"), Some("hit"), "{path}");
        assert_eq!(second.body, first.body, "{path}");
    }
}
