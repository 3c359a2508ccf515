"""Checks for the SpinKube deployment in k8s/spinkube.

No cluster is needed. The manifests are checked against:

- the CRD schemas of spin-operator v0.6.1 and the KEDA HTTP add-on v0.15.0
  (from the shared directory next to the repository, `<repo>/../shared`, or
  $OMNI_SPINKUBE_CRDS);
- Kubernetes' own schemas for built-in kinds (kubernetes-validate, 1.31,
  strict);
- small hand-written schemas for the other CRD kinds we use (KEDA
  ScaledObject, Gateway API, runtime-class-manager Shim);
- spin.toml: components, variables and routes. The routing test evaluates
  the HTTPRoute the way Gateway API does. It then checks that every route and
  method in spin.toml reaches a SpinApp that runs the component Spin itself
  would pick.

Run: python3 -m venv /tmp/k8s-venv && /tmp/k8s-venv/bin/pip install -r
tests/k8s/requirements.txt && /tmp/k8s-venv/bin/pytest -q tests/k8s
"""

from __future__ import annotations

import base64
import copy
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

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
    "web-not-found": set(ALL_METHODS),
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
    on_disk = {p.name for p in manifest_files()} - config_files
    missing = on_disk - set(listed)
    assert not missing, f"manifests not listed in kustomization.yaml resources: {sorted(missing)}"


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
    ):
        assert needed in schemas, f"no CRD schema for {needed} under {CRD_DIR}"
    return schemas


CRD_GROUPS = {"core.spinkube.dev", "http.keda.sh"}


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
    assert {"SpinApp", "SpinAppExecutor", "InterceptorRoute"} <= set(checked)


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


# --------------------------------------------------------------------------
# Built-in kinds (Kubernetes' own schemas)

BUILTIN_GROUPS = {"", "apps", "batch"}


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
    for obj in objects:
        if group_of(obj["apiVersion"]) not in BUILTIN_GROUPS:
            continue
        error = builtin_validation_error(obj)
        assert error is None, f"{obj['kind']}/{obj['metadata']['name']}: {error}"
        kinds.add(obj["kind"])
    assert {"Namespace", "Secret", "Service", "StatefulSet", "Job"} <= kinds


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
    ]
}

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
                            "tls": {"type": "object"},
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
                            "backendRefs": {"type": "array", "minItems": 1, "items": _BACKEND_REF},
                            "timeouts": {"type": "object"},
                        },
                        ["backendRefs"],
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
    route = strip(of_kind(objects, "HTTPRoute")[0])
    route["spec"]["rules"][0]["filters"][0]["urlRewrite"]["host"] = "x"
    assert hand_written_errors(route)
    shim = strip(of_kind(objects, "Shim")[0])
    del shim["spec"]["runtimeClass"]["handler"]
    assert hand_written_errors(shim)


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


def test_spinapp_variable_values_are_in_the_apps_accepted_ranges(objects):
    secrets = secret_values(objects)
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


def test_db_host_matches_db_url_and_the_mariadb_service(objects, kustomization):
    secrets = secret_values(objects)
    (service,) = [s for s in of_kind(objects, "Service") if s["metadata"]["name"] == "mariadb"]
    port = service["spec"]["ports"][0]["port"]
    expected = f"mariadb.{effective_namespace(service, kustomization)}.svc.cluster.local:{port}"
    for app in spin_apps(objects):
        variables = spin_variables(app)
        db_host = resolve_variable(variables["db_host"], secrets)
        url = urlsplit(resolve_variable(variables["db_url"], secrets))
        assert url.scheme == "mysql"
        assert f"{url.hostname}:{url.port}" == db_host, (
            f"{app['metadata']['name']}: db_host != db_url's host:port"
        )
        assert db_host == expected


def test_db_url_example_matches_the_mariadb_credentials_example(objects):
    secrets = secret_values(objects)
    url = urlsplit(secrets["omni-secrets"]["db_url"])
    creds = secrets["mariadb-credentials"]
    assert url.username == creds["user"]
    assert url.password == creds["password"]
    assert url.path.lstrip("/") == creds["database"]


def test_example_secrets_are_obviously_fake(objects):
    for name, data in secret_values(objects).items():
        for key in ("db_url", "jwt_secret", "password", "root-password"):
            if key in data:
                assert "CHANGE-ME" in data[key], f"{name}/{key} does not look like a placeholder"


def test_every_secret_reference_points_at_an_existing_key(objects):
    secrets = secret_values(objects)

    def refs(node):
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                yield node["secretKeyRef"]
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
    assert container["image"] == "mariadb:11.4"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config_map_volumes = [
        n for n, v in volumes.items() if v.get("configMap", {}).get("name") == "omni-migrations"
    ]
    assert len(config_map_volumes) == 1
    mount_path = mounts[config_map_volumes[0]]
    script = "\n".join(container.get("command", []) + container.get("args", []))
    assert f"{mount_path}/*.up.sql" in script
    assert "schema_migrations" in script


def test_mariadb_statefulset_is_served_by_its_service_and_credentials(objects):
    (sts,) = of_kind(objects, "StatefulSet")
    (service,) = [s for s in of_kind(objects, "Service") if s["metadata"]["name"] == "mariadb"]
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
    assert sts["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "mariadb:11.4"
    env = {e["name"]: e for e in container["env"]}
    for name in ("MARIADB_ROOT_PASSWORD", "MARIADB_USER", "MARIADB_PASSWORD", "MARIADB_DATABASE"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "mariadb-credentials"
    assert "healthcheck.sh" in container["readinessProbe"]["exec"]["command"]
    assert "healthcheck.sh" in container["livenessProbe"]["exec"]["command"]
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert any(m["name"] == claim["metadata"]["name"] for m in container["volumeMounts"])
    assert service["spec"]["ports"][0]["port"] == 3306


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


def gateway_pick_rule(route: dict, method: str, path: str) -> dict | None:
    """The HTTPRoute rule Gateway API selects. Precedence across matches: an
    Exact path, then the longest PathPrefix, then a method match, then more
    header and query matches. Remaining ties go to the first rule."""
    best = None
    for index, rule in enumerate(route["spec"]["rules"]):
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
                best = (key, rule)
    return best[1] if best else None


def route_request(objects: list[dict], kustomization: dict, method: str, path: str) -> tuple[str | None, str]:
    """Follows a request through the HTTPRoute, the interceptor and the
    InterceptorRoute. Returns (SpinApp name or None, explanation)."""
    (http_route,) = of_kind(objects, "HTTPRoute", "gateway.networking.k8s.io")
    rule = gateway_pick_rule(http_route, method, path)
    if rule is None:
        return None, "no HTTPRoute rule matches"
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
    requests = []
    for route, component in routes:
        methods = ALL_METHODS
        if component in CATCH_ALL_COMPONENTS:
            methods = sorted(SERVED_METHODS[component])
        for path in (sample_path(route), sample_path(route) + "/"):
            requests.extend((path, m) for m in methods)
    requests.extend((path, m) for path in EXTRA_PATHS for m in ALL_METHODS)

    problems = []
    for path, method in requests:
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
        (route,) = of_kind(objs, "HTTPRoute")
        route["spec"]["rules"] = [
            r
            for r in route["spec"]["rules"]
            if not any(m.get("path", {}).get("value") == "/api/users" for m in r["matches"])
        ]

    def drop_comments_rule(objs):
        (route,) = of_kind(objs, "HTTPRoute")
        route["spec"]["rules"] = [
            r
            for r in route["spec"]["rules"]
            if not any(m.get("path", {}).get("value") == "/api/comments" for m in r["matches"])
        ]

    def auth_to_read(objs):
        (route,) = of_kind(objs, "HTTPRoute")
        route["spec"]["rules"][0]["filters"][0]["urlRewrite"]["hostname"] = "omni-read.omni.internal"

    def write_loses_health(objs):
        by_name(objs, "SpinApp")["omni-write"]["spec"]["components"].remove("health")

    def bypass_interceptor(objs):
        (route,) = of_kind(objs, "HTTPRoute")
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
        (route,) = of_kind(objs, "HTTPRoute")
        route["spec"]["rules"] = [
            r
            for r in route["spec"]["rules"]
            if not any(m.get("path", {}).get("value") == "/static" for m in r["matches"])
        ]

    assert any("POST /login" in p for p in mutated(auth_loses_web_account))
    assert any("POST /posts/123/comments" in p for p in mutated(write_loses_web_projects))
    assert any("POST /static" in p for p in mutated(drop_static_rule))


def test_httproute_attaches_to_the_gateway_and_may_cross_into_keda(objects, kustomization):
    (route,) = of_kind(objects, "HTTPRoute")
    (gateway,) = of_kind(objects, "Gateway")
    route_ns = effective_namespace(route, kustomization)
    listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
    for parent in route["spec"]["parentRefs"]:
        assert parent["name"] == gateway["metadata"]["name"]
        assert parent.get("namespace", route_ns) == effective_namespace(gateway, kustomization)
        if "sectionName" in parent:
            assert parent["sectionName"] in listeners
    grants = of_kind(objects, "ReferenceGrant")
    for rule in route["spec"]["rules"]:
        for backend in rule["backendRefs"]:
            ns = backend.get("namespace", route_ns)
            if ns == route_ns:
                continue
            allowed = any(
                effective_namespace(g, kustomization) == ns
                and any(f["kind"] == "HTTPRoute" and f["namespace"] == route_ns for f in g["spec"]["from"])
                and any(
                    t["kind"] == backend.get("kind", "Service")
                    and t.get("name", backend["name"]) == backend["name"]
                    for t in g["spec"]["to"]
                )
                for g in grants
            )
            assert allowed, f"no ReferenceGrant in {ns} lets HTTPRoutes from {route_ns} use {backend['name']}"


def test_probe_paths_are_served_by_each_spinapps_own_health_component(objects, spin_manifest):
    routes = spin_routes(spin_manifest)
    for app in spin_apps(objects):
        components = set(app["spec"]["components"])
        for probe in ("readiness", "liveness"):
            path = app["spec"]["checks"][probe]["httpGet"]["path"]
            assert spin_pick(routes, path, components) == "health", f"{app['metadata']['name']} {probe}"


# --------------------------------------------------------------------------
# The kustomize build itself (needs kubectl or kustomize; skipped without)


def kustomize_build() -> list[dict]:
    if shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(K8S_DIR)]
    elif shutil.which("kustomize"):
        cmd = ["kustomize", "build", "--load-restrictor", "LoadRestrictionsNone", str(K8S_DIR)]
    else:
        pytest.skip("neither kubectl nor kustomize is installed")
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
    assert last("SpinAppExecutor") < first("SpinApp"), "the webhook rejects SpinApps before their executor"
    assert last("InterceptorRoute") < first("ScaledObject"), "ScaledObjects need their InterceptorRoute first"
    assert last("ConfigMap") < first("Job")
    assert last("Secret") < first("StatefulSet")


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
