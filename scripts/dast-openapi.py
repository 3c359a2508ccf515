"""Writes the OpenAPI document that scripts/dast gives Wapiti: the app's own
/api/openapi.json, with two changes so that the scan's attacks reach the
handlers instead of stopping at a 404 or a 400:

1. Every `{id}` path parameter defaults to a row that exists.
2. The paging parameter, an object whose `page` and `before` the document
   spreads into the query (form style, exploded), becomes a plain `page`
   query parameter. Wapiti cannot spread an object: it would send
   `?paging=1`, which the app ignores. `before` cannot share a request with
   `page` (that is a 400), so this prints one URL per list with `?before=`,
   which scripts/dast passes to Wapiti as start URLs to attack too.

3. The operations that end sessions (`POST /api/logout`, `/api/logout-all`)
   are left out: the scan has one token, and the first of them would end it,
   leaving every later attack unauthenticated. They read no body and no
   query, so there is nothing to inject into; scripts/fuzz-api covers them,
   each call with a session of its own.

Wapiti fills a path parameter with its schema's `default`, or "1" without
one, and no row has id 1. So: posts and their comments use the seed post,
users the caller, comments the seed comment. DELETE operations get rows of
their own, made here, because Wapiti sends every operation once while it
explores, and deleting the seed post would leave the rest of the scan
looking at 404s. `PATCH /api/posts/{id}` gets a post of its own too: its
attacks rewrite the post's `markdown_url`, and the seed post's write-up
(served by the fuzz server's local source) would then be the documented
502 of a source that cannot be fetched for the rest of the scan.

Usage: dast-openapi.py <base url> <bearer token> <seed post id> <output file>
Prints the `?before=` URLs, one per line.
"""

import json
import sys
import urllib.request


# Operations that end the caller's session (see the module's note 3).
SESSION_ENDING_PATHS = ("/api/logout", "/api/logout-all")


def call(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.load(response)


def main(base: str, token: str, post_id: str, output: str) -> None:
    document = call(base, token, "GET", "/api/openapi.json")
    user_id = call(base, token, "GET", "/api/me")["id"]
    comment_id = call(base, token, "GET", f"/api/posts/{post_id}/comments")["items"][0]["id"]
    doomed_post = call(
        base, token, "POST", "/api/posts", {"title": "To delete", "markdown_url": "https://example.com/d.md"}
    )
    doomed_comment = call(base, token, "POST", f"/api/posts/{post_id}/comments", {"body": "To delete"})
    patched_post = call(
        base, token, "POST", "/api/posts", {"title": "To edit", "markdown_url": "https://example.com/e.md"}
    )
    # Operations whose row is not the kept one: (path, method) -> id.
    own_rows = {("/api/posts/{id}", "patch"): patched_post["id"]}
    ids = {
        "/api/posts/{id}": (post_id, doomed_post["id"]),
        "/api/posts/{id}/comments": (post_id, post_id),
        "/api/posts/{id}/writeup": (post_id, post_id),
        "/api/comments/{id}": (comment_id, doomed_comment["id"]),
        "/api/users/{id}": (user_id, user_id),
        "/api/users/{id}/posts": (user_id, user_id),
    }
    for ending in SESSION_ENDING_PATHS:
        if document["paths"].pop(ending, None) is None:
            sys.exit(f"dast-openapi: the document has no {ending} any more; update this script")
    paging_ref = "#/components/parameters/Paging"
    before_urls = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            refs = [p for p in operation.get("parameters", []) if p.get("$ref") == paging_ref]
            if not refs:
                continue
            operation["parameters"] = [p for p in operation["parameters"] if p.get("$ref") != paging_ref] + [
                {"name": "page", "in": "query", "required": True, "schema": {"type": "integer", "default": 1}}
            ]
            concrete = path.replace("{id}", str(user_id if path.startswith("/api/users/") else post_id))
            before_urls.append(f"{base}{concrete}?before={post_id}")
    if not before_urls:
        sys.exit("dast-openapi: no operation uses the Paging parameter any more; update this script")
    templated = {path for path in document["paths"] if "{id}" in path}
    if templated != set(ids):
        sys.exit(
            f"dast-openapi: the document's templated paths changed: {sorted(templated)}; update this script"
        )
    for path, (kept, deleted) in ids.items():
        for method, operation in document["paths"][path].items():
            if method == "parameters":
                continue
            value = own_rows.get((path, method), deleted if method == "delete" else kept)
            operation["parameters"] = [
                p
                for p in operation.get("parameters", [])
                if not (p.get("in") == "path" and p.get("name") == "id")
            ] + [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "default": str(value)},
                }
            ]
        document["paths"][path].pop("parameters", None)
    with open(output, "w", encoding="utf-8") as f:
        json.dump(document, f)
    print("\n".join(before_urls))


if __name__ == "__main__":
    main(*sys.argv[1:5])
