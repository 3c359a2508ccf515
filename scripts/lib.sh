# Shell functions the test scripts share; sourced, not run.

# python_venv DIR REQUIREMENTS TOOL: a Python venv in DIR with REQUIREMENTS
# installed, made unless DIR/bin/TOOL is already there; installed again when
# REQUIREMENTS changed since (a copy is kept in the venv to compare).
python_venv() {
    if [ ! -x "$1/bin/$3" ]; then
        python3 -m venv "$1"
    fi
    if ! cmp -s "$2" "$1/requirements.txt"; then
        "$1/bin/pip" install --quiet -r "$2"
        cp "$2" "$1/requirements.txt"
    fi
}

# start_fuzz_server: the real components in the test host over a fresh
# throwaway MariaDB with seed rows (tests/testkit's omni-fuzz-server),
# stopped when the script exits. Sets `url`, `token` (a valid bearer token),
# `post_id` (a seeded post) and `work` (a scratch directory removed on
# exit). The server comes with the test build (cargo builds a package's
# binaries for its integration tests), so after scripts/test's own
# `cargo test` this compiles nothing; `cargo build -p` would resolve
# features anew and rebuild.
start_fuzz_server() {
    cargo test --workspace --no-run --quiet
    work=$(mktemp -d)
    mkfifo "$work/ready"
    target/debug/omni-fuzz-server > "$work/ready" 2> "$work/server.log" &
    server=$!
    trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
    # Blocks until the server has started and printed its address.
    read -r url token post_id < "$work/ready"
}
