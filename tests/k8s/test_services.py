"""The scripts and server settings inside k8s/spinkube, run for real.

The manifests carry shell scripts and server options that no schema can
check: MariaDB's my.cnf (thread pool, connection budget, what Galera
refuses), the users and grants mariadb-operator creates from the User and
Grant objects, the migration Job's script, and the Redis servers' startup
script with its ACL, and their probes. These tests take them out of the
YAML as they are and run them against a throwaway MariaDB and Redis on this
machine (Debian's mariadb-server and redis-server, which scripts/test
installs), changing only file paths and ports.

What differs from the cluster: Debian's MariaDB 10.11 and Redis 7.0 instead
of the images' 11.8 and 7.4 (the options and grants used here behave the
same in both), one node instead of a Galera cluster (tests/testkit runs
Omni on a real three-node cluster), and the operator itself, whose SQL for
the Database, User and Grant objects `operator_sql` repeats in its format.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parents[1]
K8S_DIR = REPO / "k8s" / "spinkube"
MIGRATIONS_DIR = REPO / "migrations"

ROOT_PASSWORD = "root-password-for-tests"
DATABASE = "omni"
MIGRATE_USER = "omni_migrate"
MIGRATE_PASSWORD = "migrate-password-for-tests"
APP_USER = "omni_app"
APP_PASSWORD = "app-password-for-tests"
READ_USER = "omni_read"
READ_PASSWORD = "read-password-for-tests"
REDIS_PASSWORD = "redis-password-for-tests"


def documents(name: str) -> list[dict]:
    with (K8S_DIR / name).open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def one(name: str, kind: str, object_name: str) -> dict:
    (obj,) = [d for d in documents(name) if d["kind"] == kind and d["metadata"]["name"] == object_name]
    return obj


def program(name: str) -> str:
    """`name` from PATH or /usr/sbin (where Debian puts mariadbd)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin")
    if found is None:
        pytest.fail(
            f"{name} is not installed (scripts/test installs mariadb-server, redis-server and openssl)"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


def wait_until(ready, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} did not become ready in {seconds} s")


# --------------------------------------------------------------------------
# MariaDB
#
# mariadb-operator runs MariaDB from the MariaDB resource: its myCnf as a
# config file, TLS options of its own, and the Database, User and Grant
# objects as SQL statements (pkg/sql/sql.go in mariadb-operator v26.6.0:
# CreateDatabase, CreateUser, Grant). The fixture does the same on a
# throwaway server, so what runs is the manifests' own text.


def mariadb_resource() -> dict:
    return one("mariadb.yaml", "MariaDB", "mariadb")


def operator_sql() -> list[str]:
    """The statements mariadb-operator runs for mariadb.yaml's Database,
    User and Grant objects, in its own format, with this test's
    passwords."""
    passwords = {
        "migrate-password": MIGRATE_PASSWORD,
        "app-password": APP_PASSWORD,
        "read-password": READ_PASSWORD,
    }
    statements = []
    for doc in documents("mariadb.yaml"):
        spec = doc["spec"]
        if doc["kind"] == "Database":
            name = spec.get("name", doc["metadata"]["name"])
            statements.append(
                f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET = '{spec['characterSet']}'"
                f" COLLATE = '{spec['collate']}'"
            )
    for doc in documents("mariadb.yaml"):
        spec = doc["spec"]
        if doc["kind"] == "User":
            password = passwords[spec["passwordSecretKeyRef"]["key"]]
            statements.append(
                f"CREATE USER IF NOT EXISTS '{spec['name']}'@'{spec['host']}' IDENTIFIED BY '{password}'"
                f" WITH MAX_USER_CONNECTIONS {spec['maxUserConnections']}"
            )
    for doc in documents("mariadb.yaml"):
        spec = doc["spec"]
        if doc["kind"] == "Grant":
            table = spec["table"] if spec["table"] == "*" else f"`{spec['table']}`"
            statements.append(
                f"GRANT {','.join(spec['privileges'])} ON `{spec['database']}`.{table}"
                f" TO '{spec['username']}'@'{spec['host']}'"
            )
    return statements


def server_names() -> list[str]:
    """The names mariadb-operator puts in the server certificate of the
    MariaDB `mariadb` in namespace `omni` (docs/tls.md, "MariaDB
    certificate specification")."""
    name, namespace = mariadb_resource()["metadata"]["name"], "omni"
    names = []
    for service in (name, f"*.{name}-internal", f"{name}-primary", f"{name}-secondary"):
        names += [f"{service}.{namespace}.svc.cluster.local", f"{service}.{namespace}.svc", f"{service}.{namespace}", service]
    return names + ["localhost"]


def make_certificates(directory: Path) -> None:
    """A CA and a server certificate like the operator's from tls.yaml's
    internal CA (P-256 ECDSA, the operator's names), plus 127.0.0.1, the
    address the tests connect to."""
    names = server_names()
    openssl = program("openssl")

    def ok(args):
        result = run([openssl, *args], cwd=directory)
        assert result.returncode == 0, result.stderr

    ok(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"])
    ok(
        [
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-days",
            "2",
            "-subj",
            "/CN=omni internal CA",
            "-out",
            "ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]
    )
    ok(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "tls.key"])
    ok(["req", "-new", "-key", "tls.key", "-subj", "/CN=mariadb", "-out", "tls.csr"])
    alt_names = ",".join([f"DNS:{n}" for n in names] + ["IP:127.0.0.1"])
    (directory / "ext.cnf").write_text(
        f"subjectAltName={alt_names}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n"
    )
    ok(
        [
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "tls.crt",
        ]
    )


class MariaDB:
    def __init__(self, directory: Path, port: int, process: subprocess.Popen):
        self.directory = directory
        self.port = port
        self.process = process
        self.socket = directory / "mariadbd.sock"
        self.ca = directory / "tls" / "ca.crt"

    def client(self, user: str, password: str, sql: str, *, tls: bool = True, database: str = DATABASE):
        """Runs `sql` over TCP as `user`, verifying the server's certificate
        when `tls`."""
        args = [
            program("mariadb"),
            "--no-defaults",
            "--protocol=tcp",
            "--host=127.0.0.1",
            f"--port={self.port}",
            f"--user={user}",
            "--batch",
            "--skip-column-names",
            database,
            "-e",
            sql,
        ]
        if tls:
            args[2:2] = [f"--ssl-ca={self.ca}", "--ssl-verify-server-cert"]
        return run(args, env={**os.environ, "MYSQL_PWD": password})

    def root(self, sql: str) -> str:
        result = run(
            [
                program("mariadb"),
                "--no-defaults",
                f"--socket={self.socket}",
                "--user=root",
                "--batch",
                "--skip-column-names",
                "-e",
                sql,
            ],
            env={**os.environ, "MYSQL_PWD": ROOT_PASSWORD},
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mariadb")
    (directory / "tls").mkdir()
    make_certificates(directory / "tls")
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    installed = run(
        [
            program("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={directory / 'data'}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *as_root,
        ]
    )
    assert installed.returncode == 0, installed.stderr
    # The manifest's myCnf as it is, and the TLS files the operator mounts.
    (directory / "my.cnf").write_text(mariadb_resource()["spec"]["myCnf"])
    port = free_port()
    log = (directory / "mariadbd.log").open("w")
    process = subprocess.Popen(
        [
            program("mariadbd"),
            f"--defaults-file={directory / 'my.cnf'}",
            f"--datadir={directory / 'data'}",
            f"--socket={directory / 'mariadbd.sock'}",
            f"--pid-file={directory / 'mariadbd.pid'}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--ssl-ca={directory / 'tls' / 'ca.crt'}",
            f"--ssl-cert={directory / 'tls' / 'tls.crt'}",
            f"--ssl-key={directory / 'tls' / 'tls.key'}",
            *as_root,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    db = MariaDB(directory, port, process)
    try:
        wait_until(
            lambda: (
                "ready for connections" in (directory / "mariadbd.log").read_text()
                or process.poll() is not None
            ),
            "mariadbd",
        )
        assert process.poll() is None, (directory / "mariadbd.log").read_text()
        result = run(
            [
                program("mariadb"),
                "--no-defaults",
                f"--socket={db.socket}",
                "--user=root",
                "-e",
                f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{ROOT_PASSWORD}'",
            ]
        )
        assert result.returncode == 0, result.stderr
        for statement in operator_sql():
            db.root(statement)
        yield db
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def test_mariadbd_runs_with_the_manifests_my_cnf(mariadb):
    values = dict(
        line.split("\t")
        for line in mariadb.root(
            "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES"
            " WHERE VARIABLE_NAME IN "
            "('THREAD_HANDLING', 'MAX_CONNECTIONS', 'INNODB_LOCK_WAIT_TIMEOUT',"
            " 'WAIT_TIMEOUT', 'HAVE_SSL', 'WSREP_MODE', 'COLLATION_SERVER', 'SKIP_NAME_RESOLVE')"
        ).splitlines()
    )
    assert values == {
        "THREAD_HANDLING": "pool-of-threads",
        "MAX_CONNECTIONS": "300",
        "INNODB_LOCK_WAIT_TIMEOUT": "5",
        "WAIT_TIMEOUT": "60",
        "HAVE_SSL": "YES",
        "WSREP_MODE": "STRICT_REPLICATION,REQUIRED_PRIMARY_KEY",
        "COLLATION_SERVER": "utf8mb4_unicode_ci",
        "SKIP_NAME_RESOLVE": "ON",
    }


def test_the_operator_gives_each_user_only_its_grants(mariadb):
    expected = {
        APP_USER: f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{DATABASE}`.* TO `{APP_USER}`@`%`",
        READ_USER: f"GRANT SELECT ON `{DATABASE}`.* TO `{READ_USER}`@`%`",
        MIGRATE_USER: f"GRANT ALL PRIVILEGES ON `{DATABASE}`.* TO `{MIGRATE_USER}`@`%`",
    }
    for user, grant in expected.items():
        grants = mariadb.root(f"SHOW GRANTS FOR '{user}'@'%'")
        assert grant in grants, grants
        # USAGE on *.* (the login), and the one grant.
        assert grants.count("GRANT ") == 2, grants


def test_migration_job_applies_the_migrations_as_the_ddl_user_over_verified_tls(mariadb, tmp_path):
    job = one("migrate-job.yaml", "Job", "omni-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env_values = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    # The Job's own script, with its two mount paths moved here.
    shutil.copytree(MIGRATIONS_DIR, tmp_path / "migrations", ignore=shutil.ignore_patterns("sqlite"))
    script = (
        container["args"][0]
        .replace("/tls/ca.crt", str(mariadb.ca))
        .replace("/migrations", str(tmp_path / "migrations"))
    )
    env = {
        "PATH": os.environ["PATH"],
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(mariadb.port),
        "MARIADB_USER": env_values["MARIADB_USER"],
        "MARIADB_DATABASE": env_values["MARIADB_DATABASE"],
        "MYSQL_PWD": MIGRATE_PASSWORD,
    }
    first = run(["bash", "-c", script], env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    count = len(list(MIGRATIONS_DIR.glob("*.up.sql")))
    assert f"done, {count} applied, 0 already applied" in first.stdout
    again = run(["bash", "-c", script], env=env)
    assert again.returncode == 0 and f"done, 0 applied, {count} already applied" in again.stdout
    # What Galera needs of every table (wsrep_mode refuses the rest): InnoDB
    # with a primary key.
    without = mariadb.root(
        "SELECT t.TABLE_NAME FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = 'omni'"
        " AND (t.ENGINE <> 'InnoDB' OR NOT EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c"
        " WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME"
        " AND c.CONSTRAINT_TYPE = 'PRIMARY KEY'))"
    )
    assert without == "", f"tables Galera cannot replicate safely: {without}"


def dml_probe(mariadb) -> None:
    """A table in Omni's database, made by root so each test stands alone."""
    mariadb.root(
        f"CREATE TABLE IF NOT EXISTS `{DATABASE}`.dml_probe"
        " (id INT PRIMARY KEY, note VARCHAR(20)) ENGINE=InnoDB"
    )


SCHEMA_CHANGES = (
    "CREATE TABLE evil (x INT PRIMARY KEY)",
    "DROP TABLE dml_probe",
    "ALTER TABLE dml_probe ADD COLUMN x INT",
    "TRUNCATE TABLE dml_probe",
    "CREATE INDEX i ON dml_probe (note)",
    "SELECT User FROM mysql.user",
    "CREATE DATABASE evil",
    "GRANT SELECT ON omni.* TO 'omni_app'@'%'",
)


def assert_denied(result, sql: str) -> None:
    assert result.returncode != 0, f"allowed: {sql}"
    assert "denied" in result.stderr, f"{sql}: {result.stderr}"


def test_the_app_user_can_read_and_write_rows_but_not_change_the_schema(mariadb):
    dml_probe(mariadb)

    def as_app(sql):
        return mariadb.client(APP_USER, APP_PASSWORD, sql)

    for sql in (
        "INSERT INTO dml_probe VALUES (1, 'a')",
        "UPDATE dml_probe SET note = 'b' WHERE id = 1",
        "SELECT note FROM dml_probe WHERE id = 1",
        "DELETE FROM dml_probe WHERE id = 1",
    ):
        result = as_app(sql)
        assert result.returncode == 0, f"{sql}: {result.stderr}"
    for sql in SCHEMA_CHANGES:
        assert_denied(as_app(sql), sql)


def test_the_read_user_can_only_read_rows(mariadb):
    dml_probe(mariadb)
    mariadb.root(f"INSERT IGNORE INTO `{DATABASE}`.dml_probe VALUES (7, 'seven')")
    result = mariadb.client(READ_USER, READ_PASSWORD, "SELECT note FROM dml_probe WHERE id = 7")
    assert result.returncode == 0 and result.stdout.strip() == "seven", result.stderr
    for sql in (
        "INSERT INTO dml_probe VALUES (2, 'a')",
        "UPDATE dml_probe SET note = 'b' WHERE id = 7",
        "DELETE FROM dml_probe WHERE id = 7",
        *SCHEMA_CHANGES,
    ):
        assert_denied(mariadb.client(READ_USER, READ_PASSWORD, sql), sql)


def test_the_ddl_user_can_change_the_schema(mariadb):
    result = mariadb.client(
        MIGRATE_USER, MIGRATE_PASSWORD, "CREATE TABLE ddl_probe (x INT PRIMARY KEY); DROP TABLE ddl_probe"
    )
    assert result.returncode == 0, result.stderr


def test_each_user_is_held_to_its_connection_budget(mariadb):
    limits = dict(
        line.split("\t")
        for line in mariadb.root(
            "SELECT User, max_user_connections FROM mysql.user WHERE User LIKE 'omni\\_%'"
        ).splitlines()
    )
    users = {d["spec"]["name"]: d["spec"] for d in documents("mariadb.yaml") if d["kind"] == "User"}
    assert limits == {name: str(spec["maxUserConnections"]) for name, spec in users.items()}


def test_a_client_that_verifies_refuses_a_server_certificate_from_another_ca(mariadb, tmp_path):
    make_certificates(tmp_path)
    result = run(
        [
            program("mariadb"),
            "--no-defaults",
            "--protocol=tcp",
            "--host=127.0.0.1",
            f"--port={mariadb.port}",
            f"--ssl-ca={tmp_path / 'ca.crt'}",
            "--ssl-verify-server-cert",
            f"--user={APP_USER}",
            "-e",
            "SELECT 1",
        ],
        env={**os.environ, "MYSQL_PWD": APP_PASSWORD},
    )
    assert result.returncode != 0
    assert "certificate" in result.stderr.lower() or "ssl" in result.stderr.lower(), result.stderr


# --------------------------------------------------------------------------
# Redis


REDIS_NAMES = ("redis-cache", "redis-limits")


def redis_container(name: str) -> dict:
    deployment = one("redis.yaml", "Deployment", name)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def redis_env(name: str) -> dict[str, str]:
    """Deployment `name`'s environment for its startup script, with the
    test's password."""
    env = {e["name"]: e.get("value") for e in redis_container(name)["env"]}
    return {"REDISCLI_AUTH": REDIS_PASSWORD, "MAXMEMORY_POLICY": env["MAXMEMORY_POLICY"], "MAXMEMORY": env["MAXMEMORY"]}


def redis_policy(name: str) -> str:
    return redis_env(name)["MAXMEMORY_POLICY"]


def redis_script(name: str, config_dir: Path, port: int) -> str:
    """Deployment `name`'s startup script, with the config volume and the
    port moved, listening on loopback only."""
    script = redis_container(name)["args"][0]
    assert "/run/redis/" in script and "--port 6379" in script
    return (
        script.replace("/run/redis/", f"{config_dir}/")
        .replace("redis-server ", f"{program('redis-server')} ")
        .replace("--port 6379", f"--port {port} --bind 127.0.0.1")
    )


def run_redis(name: str, directory: Path, port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        ["sh", "-c", redis_script(name, directory, port)],
        env={"PATH": os.environ["PATH"], **env},
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module", params=REDIS_NAMES)
def redis(request, tmp_path_factory):
    name = request.param
    directory = tmp_path_factory.mktemp(name)
    port = free_port()
    process = run_redis(
        name,
        directory,
        port,
        redis_env(name),
    )

    def cli(*args, password=REDIS_PASSWORD):
        env = {"PATH": os.environ["PATH"]}
        if password is not None:
            env["REDISCLI_AUTH"] = password
        return run([program("redis-cli"), "-p", str(port), *args], env=env).stdout.strip()

    try:
        wait_until(lambda: cli("ping") == "PONG" or process.poll() is not None, "redis-server")
        assert process.poll() is None, process.stdout.read()
        cli.name = name
        cli.port = port
        cli.pid = process.pid
        cli.config_dir = directory
        yield cli
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        process.wait(timeout=30)


def test_redis_requires_the_password(redis):
    assert redis("ping", password=None).startswith("NOAUTH")
    assert redis("ping", password="wrong-password").startswith(("NOAUTH", "WRONGPASS"))


def test_redis_serves_every_command_the_app_sends(redis):
    # shared/src/cache.rs and limits.rs: AUTH (on connecting), MGET and SET
    # ... PX for the cache, SET for its versions, INCRBY, EXPIRE and GET for
    # the counters.
    assert redis("set", "v:posts", "0123456789abcdef") == "OK"
    assert redis("set", "c:1", "entry", "PX", "2000") == "OK"
    assert redis("mget", "v:posts", "c:2", "c:1").splitlines() == ["0123456789abcdef", "", "entry"]
    assert redis("incrby", "rl:test:1:2", "1") == "1"
    assert redis("expire", "rl:test:1:2", "61") == "1"
    assert redis("get", "rl:test:1:2") == "1"
    assert redis("dbsize") == "3"


def test_redis_evicts_as_its_deployment_says_under_its_cap(redis):
    memory = redis("info", "memory")
    assert f"maxmemory_policy:{redis_policy(redis.name)}" in memory
    megabytes = int(redis_env(redis.name)["MAXMEMORY"].removesuffix("mb"))
    assert f"maxmemory:{megabytes << 20}" in memory
    assert "aof_enabled:0" in redis("info", "persistence")


@pytest.mark.parametrize(
    "command",
    [
        ["config", "get", "dir"],
        ["flushall"],
        ["flushdb"],
        ["keys", "*"],
        ["eval", "return 1", "0"],
        ["del", "c:1"],
        ["module", "list"],
        ["shutdown"],
        ["save"],
        ["acl", "list"],
        ["client", "kill", "127.0.0.1:1"],
        ["replicaof", "no", "one"],
    ],
)
def test_redis_refuses_everything_else_even_with_the_password(redis, command):
    assert redis(*command).startswith("NOPERM"), command


def test_redis_keeps_its_password_off_the_command_line(redis):
    config = redis.config_dir / "acl.conf"
    assert REDIS_PASSWORD in config.read_text()
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert REDIS_PASSWORD.encode() not in cmdline


def probe_passes(redis, kind: str, password: str) -> bool:
    """Whether Deployment `redis.name`'s `kind` probe passes against this
    server within the probe's own timeout, as the kubelet runs it."""
    probe = redis_container(redis.name)[kind]
    assert probe["exec"]["command"][:2] == ["sh", "-c"]
    command = probe["exec"]["command"][2].replace("redis-cli", f"{program('redis-cli')} -p {redis.port}")
    env = {"PATH": os.environ["PATH"], "REDISCLI_AUTH": password}
    try:
        result = subprocess.run(
            ["sh", "-c", command], env=env, capture_output=True, timeout=probe["timeoutSeconds"]
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


@pytest.mark.parametrize("kind", ["readinessProbe", "livenessProbe"])
def test_redis_probes_fail_a_refusing_and_a_frozen_server(redis, kind):
    assert probe_passes(redis, kind, REDIS_PASSWORD)
    assert not probe_passes(redis, kind, "wrong-password")
    # SIGSTOP: the kernel still accepts the connection, nothing answers; the
    # probe fails within its timeout, so the kubelet restarts the server.
    os.kill(redis.pid, signal.SIGSTOP)
    try:
        assert not probe_passes(redis, kind, REDIS_PASSWORD)
    finally:
        os.kill(redis.pid, signal.SIGCONT)
    assert probe_passes(redis, kind, REDIS_PASSWORD)


@pytest.mark.parametrize("password", ["", "has space", "quote'd", "per%cent", "new\nline"])
def test_redis_startup_refuses_passwords_that_are_not_url_safe(tmp_path, password):
    result = run(
        ["sh", "-c", redis_script("redis-cache", tmp_path, free_port())],
        env={"PATH": os.environ["PATH"], **redis_env("redis-cache"), "REDISCLI_AUTH": password},
    )
    assert result.returncode == 1
    assert "the password must be" in result.stderr


@pytest.mark.parametrize("policy", ["", "volatile-lru", "allkeys-lru noeviction"])
def test_redis_startup_refuses_any_other_policy(tmp_path, policy):
    result = run(
        ["sh", "-c", redis_script("redis-limits", tmp_path, free_port())],
        env={"PATH": os.environ["PATH"], **redis_env("redis-limits"), "MAXMEMORY_POLICY": policy},
    )
    assert result.returncode == 1
    assert "MAXMEMORY_POLICY must be" in result.stderr
