//! Checks shared by the tests: every error is RFC 9457 problem details.

use omni_testkit::TestResponse;
use serde_json::Value;

/// Asserts `response` is a problem-details error with `status`, and returns
/// its body.
pub fn assert_problem(response: &TestResponse, status: u16) -> Value {
    assert_eq!(response.status, status, "body: {}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json"),
        "status {status}"
    );
    let body = response.json();
    assert_eq!(body["status"], status);
    assert!(body["type"].is_string(), "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    body
}

/// Asserts a 422 names exactly `fields`.
pub fn assert_invalid_fields(response: &TestResponse, fields: &[&str]) {
    let body = assert_problem(response, 422);
    let mut named: Vec<&str> = body["errors"]
        .as_object()
        .expect("a 422 has errors")
        .keys()
        .map(String::as_str)
        .collect();
    named.sort_unstable();
    let mut expected = fields.to_vec();
    expected.sort_unstable();
    assert_eq!(named, expected, "{body}");
}
