"""The deployment files, checked offline: deploy/compose.yaml against the Compose Specification
schema (vendored in deploy/schemas/), every manifest in deploy/k8s/ against the Kubernetes API
schemas (bundled by `kubernetes-validate`), and the facts across files that an operator relies
on: health checks on /healthz, restart policies, resource limits, probes, secrets that exist,
settings that the services really read and accept in production."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from importlib import import_module
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from pydantic import ValidationError
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "compose.yaml"
COMPOSE_SCHEMA = DEPLOY / "schemas" / "compose-spec.json"
K8S_DIR = DEPLOY / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = DEPLOY / "docker" / "entrypoint.sh"

SERVICES = ("grades", "consent", "notifier", "digest", "account")
# Kafka consumer groups: scaled by partitions.
CONSUMERS = ("consent", "notifier", "digest", "account")
# The oldest Kubernetes we claim to support and the newest whose schemas the package bundles.
KUBERNETES_VERSIONS = ("1.30", "1.37")
# Custom resources have no schema among the Kubernetes API's own: they are skipped explicitly
# (by API group), never silently. servicemonitor.yaml (the Prometheus Operator's
# monitoring.coreos.com/v1) is checked by hand in test_the_service_monitor_selects_the_services.
CRD_GROUPS = {"monitoring.coreos.com"}
NOT_A_MANIFEST = {"kustomization.yaml"}  # kustomize's input, not an API object
OPTIONAL_MANIFESTS = {"servicemonitor.yaml"}  # left out of kustomization.yaml: needs the CRD
RESTART_POLICIES = {"always", "unless-stopped", "on-failure"}
A_PRODUCTION_SECRET = "x" * 40


# --- Compose ------------------------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: Any, environment: Mapping[str, str]) -> Any:
    """Compose's variable substitution (`${X}`, `${X:-default}`, `${X-default}`, `${X:?error}`,
    `${X:+other}`, `$$`), which Compose applies to values before it validates the file."""
    if isinstance(value, dict):
        return {key: interpolate(item, environment) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, environment) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        is_set = name in environment
        current = environment.get(name, "")
        if op in (":-", "-"):
            return current if (current if op == ":-" else is_set) else arg
        if op in (":?", "?"):
            if not (current if op == ":?" else is_set):
                raise ValueError(f"required variable {name} is missing: {arg}")
            return current
        if op in (":+", "+"):
            return arg if (current if op == ":+" else is_set) else ""
        return current

    return _VARIABLE.sub(substitute, value)


def load_compose(environment: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The file as Compose validates it: YAML merge keys resolved, variables substituted (with
    an empty environment by default: a fresh checkout without deploy/.env)."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    loaded = interpolate(raw, environment or {})
    assert isinstance(loaded, dict)
    return loaded


def compose_errors(config: dict[str, Any]) -> list[str]:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [
        f"{'.'.join(str(part) for part in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(config), key=str)
    ]


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):  # the KEY=VALUE list form
        environment = dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def test_the_vendored_compose_schema_is_the_compose_specification() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == "Compose Specification"
    assert "compose-go/v2" in (DEPLOY / "schemas" / "README.md").read_text(encoding="utf-8")


def test_compose_file_matches_the_compose_specification() -> None:
    assert compose_errors(load_compose()) == []


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda c: c["services"]["grades"].update(helthcheck={"test": ["NONE"]}), "helthcheck"),
        (lambda c: c["services"]["consent"].update(restart=["always"]), "restart"),
        (lambda c: c["services"]["digest"]["deploy"]["resources"].update(limit={}), "limit"),
        (lambda c: c["services"]["kafka"].update(ports={"9092": 9092}), "ports"),
        (lambda c: c.update(service={}), "service"),
    ],
    ids=[
        "unknown-service-key",
        "restart-not-a-string",
        "unknown-resources-key",
        "ports-a-map",
        "unknown-top-level-key",
    ],
)
def test_a_broken_compose_file_is_rejected(breakage: Any, expected: str) -> None:
    broken = copy.deepcopy(load_compose())
    breakage(broken)
    errors = compose_errors(broken)
    assert errors, "the schema accepted a broken compose file"
    assert any(expected in error for error in errors), errors


def test_variables_are_substituted_as_compose_does() -> None:
    assert interpolate("${A:-x}/${B-y}/$$C/${D:+z}", {"B": "", "D": "1"}) == "x//$C/z"
    with pytest.raises(ValueError, match="SECRET"):
        interpolate("${SECRET:?set it in deploy/.env}", {})


def test_every_compose_service_has_a_healthcheck_a_restart_policy_and_limits() -> None:
    for name, service in load_compose()["services"].items():
        healthcheck = service.get("healthcheck", {})
        assert healthcheck.get("test") and not healthcheck.get("disable"), name
        assert healthcheck_command(service).split()[0] in ("CMD", "CMD-SHELL"), name
        assert service.get("restart") in RESTART_POLICIES, name
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert {"cpus", "memory"} <= limits.keys(), f"{name}: resource limits {limits}"


def test_the_vestnik_services_run_from_the_dockerfile_in_production() -> None:
    compose = load_compose()
    services = compose["services"]
    mongo_command = services["mongo"]["command"]
    assert mongo_command[mongo_command.index("--replSet") + 1] == "rs0"
    assert "rs.initiate" in healthcheck_command(services["mongo"])
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for name in SERVICES:
        service = services[name]
        environment = environment_of(service)
        port = environment[f"VESTNIK_{name.upper()}_PORT"]
        assert (COMPOSE_FILE.parent / service["build"]["context"] / "Dockerfile").resolve() == (
            DOCKERFILE
        )
        assert service["command"] == ["vestnik", "serve", name]
        assert environment["VESTNIK_ENVIRONMENT"] == "production"
        assert environment["VESTNIK_KAFKA_BOOTSTRAP"].split(":")[0] in services
        assert "replicaSet=rs0" in environment["VESTNIK_MONGO_URL"]
        assert f"127.0.0.1:{port}/healthz" in healthcheck_command(service), name
        assert {"kafka", "mongo"} <= service["depends_on"].keys()
        # The JWT secret is a compose secret mounted as a file, never a value in this file.
        assert "VESTNIK_JWT_SECRET" not in environment
        assert environment["VESTNIK_JWT_SECRET_FILE"] == "/run/secrets/vestnik_jwt_secret"


def test_every_secret_a_compose_service_reads_is_declared_and_mounted() -> None:
    compose = load_compose()
    declared = compose["secrets"]
    for name, service in compose["services"].items():
        mounted = {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}
        assert mounted <= declared.keys(), name
        for variable, value in environment_of(service).items():
            if variable.endswith("_FILE") and value.startswith("/run/secrets/"):
                assert value.removeprefix("/run/secrets/") in mounted, f"{name}: {variable}"
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    for name, secret in declared.items():
        assert secret.keys() & {"file", "environment", "external"}, name
        if "environment" in secret:  # documented for whoever fills in deploy/.env
            assert re.search(rf"^{secret['environment']}=", example, re.MULTILINE), name


def test_the_monitoring_files_compose_mounts_are_where_the_issue_puts_them() -> None:
    services = load_compose()["services"]
    sources = {
        volume.split(":")[0]
        for name in ("prometheus", "grafana")
        for volume in services[name]["volumes"]
        if volume.startswith("./")
    }
    assert sources == {
        "./prometheus/prometheus.yml",
        "./prometheus/alerts.yml",
        "./grafana/provisioning",
        "./grafana/dashboards",
    }


# --- Settings: what compose and Kubernetes set is what the services read and accept --------------


def settings_class(service: str) -> type[BaseSettings]:
    settings: type[BaseSettings] = import_module(f"services.{service}.config").Settings
    return settings


def variables_read_by(service: str) -> set[str]:
    """The environment variables a service's Settings reads, plus VESTNIK_HOST (the CLI's)."""
    settings = settings_class(service)
    prefix = settings.model_config.get("env_prefix") or ""
    names = {
        field.validation_alias if isinstance(field.validation_alias, str) else prefix + name
        for name, field in settings.model_fields.items()
    }
    return {name.upper() for name in names} | {"VESTNIK_HOST"}


def make_settings(service: str, environment: Mapping[str, str]) -> BaseSettings:
    """The service's Settings as it would be built in a container with exactly `environment`."""
    with pytest.MonkeyPatch.context() as patch:
        for key in [key for key in os.environ if key.startswith("VESTNIK_")]:
            patch.delenv(key)
        for key, value in environment.items():
            patch.setenv(key, value)
        return settings_class(service)()


def resolve_files(environment: Mapping[str, str], content: str) -> dict[str, str]:
    """What the image's entrypoint does with VESTNIK_X_FILE: VESTNIK_X with the file's content."""
    return {
        key.removesuffix("_FILE") if key.endswith("_FILE") else key: (
            content if key.endswith("_FILE") else value
        )
        for key, value in environment.items()
    }


def test_compose_sets_only_variables_the_services_read_and_they_accept_them() -> None:
    services = load_compose()["services"]
    for name in SERVICES:
        environment = resolve_files(environment_of(services[name]), A_PRODUCTION_SECRET)
        unknown = {key for key in environment if key.startswith("VESTNIK_")} - variables_read_by(
            name
        )
        assert not unknown, f"{name} would silently ignore {sorted(unknown)}"
        settings = make_settings(name, environment)
        assert settings.model_dump()["environment"] == "production"
        assert str(settings.model_dump()["port"]) == environment[f"VESTNIK_{name.upper()}_PORT"]


# --- Kubernetes ---------------------------------------------------------------------------------


def k8s_files() -> list[Path]:
    return sorted(K8S_DIR.glob("*.yaml"))


def k8s_documents(path: Path) -> list[dict[str, Any]]:
    documents = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    assert all(isinstance(doc, dict) for doc in documents), path
    return documents


def k8s_objects() -> Iterator[dict[str, Any]]:
    for path in k8s_files():
        if path.name not in NOT_A_MANIFEST:
            yield from k8s_documents(path)


def is_custom_resource(document: Mapping[str, Any]) -> bool:
    api_version = str(document.get("apiVersion", ""))
    return "/" in api_version and api_version.split("/")[0] in CRD_GROUPS


def k8s_errors(document: dict[str, Any], version: str) -> list[str]:
    """Errors against the API's strict schema (unknown fields rejected); a kind the schemas do
    not know is an error too, so a typo in `kind` or `apiVersion` cannot pass as "skipped"."""
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        return [f"{document.get('kind')} {path}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [error.message]
    return []


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in k8s_objects() if doc["kind"] == kind}


def test_there_are_manifests_to_validate() -> None:
    kinds = {doc["kind"] for doc in k8s_objects()}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Service"} <= kinds
    assert {"HorizontalPodAutoscaler"} <= kinds


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    "path",
    [p for p in sorted(K8S_DIR.glob("*.yaml")) if p.name not in NOT_A_MANIFEST],
    ids=lambda p: p.name,
)
def test_manifest_matches_the_kubernetes_api(path: Path, version: str) -> None:
    documents = k8s_documents(path)
    assert documents, f"{path.name} is empty"
    for document in documents:
        if is_custom_resource(document):
            continue  # a CRD: no schema in the Kubernetes API's (see CRD_GROUPS)
        assert k8s_errors(document, version) == []


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda d: d["spec"].update(replicas="two"), "'two' is not of type 'integer'"),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readinessprobe={}),
            "readinessprobe",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(
                containerPort="http"
            ),
            "containerPort",
        ),
        (lambda d: d.update(kind="Deployement"), "Deployement"),
    ],
    ids=["replicas-a-string", "misspelt-field", "port-a-string", "unknown-kind"],
)
def test_a_broken_manifest_is_rejected(breakage: Any, expected: str) -> None:
    deployment = copy.deepcopy(by_kind("Deployment")["grades"])
    assert k8s_errors(deployment, KUBERNETES_VERSIONS[-1]) == []
    breakage(deployment)
    errors = k8s_errors(deployment, KUBERNETES_VERSIONS[-1])
    assert errors, "the schema accepted a broken manifest"
    assert any(expected in error for error in errors), errors


def test_every_object_is_in_the_namespace_and_part_of_vestnik() -> None:
    (namespace,) = by_kind("Namespace").keys()
    for document in k8s_objects():
        metadata = document["metadata"]
        if document["kind"] != "Namespace":
            assert metadata.get("namespace") == namespace, metadata["name"]
        assert metadata.get("labels", {}).get("app.kubernetes.io/part-of") == "vestnik"


def test_every_deployment_has_probes_on_healthz_resources_and_selectable_labels() -> None:
    deployments = by_kind("Deployment")
    assert deployments.keys() == set(SERVICES)
    for name, deployment in deployments.items():
        labels = deployment["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == name
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
        assert template_labels["app.kubernetes.io/part-of"] == "vestnik"
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["vestnik", "serve", name]
        assert [port["name"] for port in container["ports"]] == ["http"]
        # `/healthz` (readiness and liveness alike) or the two probes apart.
        probes = {
            probe: container[probe]["httpGet"] for probe in ("readinessProbe", "livenessProbe")
        }
        assert probes["readinessProbe"]["path"] in ("/healthz", "/healthz/ready"), name
        assert probes["livenessProbe"]["path"] in ("/healthz", "/healthz/live"), name
        assert {probe["port"] for probe in probes.values()} == {"http"}, name
        resources = container["resources"]
        assert {"cpu", "memory"} <= resources["requests"].keys(), name
        assert {"cpu", "memory"} <= resources["limits"].keys(), name
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]


def test_every_deployment_has_a_service_with_a_port_named_http() -> None:
    deployments, services = by_kind("Deployment"), by_kind("Service")
    assert services.keys() == deployments.keys()
    for name, service in services.items():
        template = deployments[name]["spec"]["template"]
        assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
        assert service["metadata"]["labels"]["app.kubernetes.io/name"] == name
        (port,) = service["spec"]["ports"]
        (container_port,) = template["spec"]["containers"][0]["ports"]
        assert port["name"] == "http" and port["targetPort"] == "http"
        assert port["port"] == container_port["containerPort"]


def test_the_consumers_scale_up_to_the_partition_count_and_no_further() -> None:
    partitions = int(by_kind("ConfigMap")["vestnik-config"]["data"]["VESTNIK_KAFKA_PARTITIONS"])
    autoscalers = by_kind("HorizontalPodAutoscaler")
    deployments = by_kind("Deployment")
    assert autoscalers.keys() == set(CONSUMERS)
    for name, autoscaler in autoscalers.items():
        target = autoscaler["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert 1 <= autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]
        assert autoscaler["spec"]["maxReplicas"] <= partitions, name
        # the autoscaler owns the count; a `replicas` in the Deployment would reset it on apply
        assert "replicas" not in deployments[name]["spec"], name
    text = "\n".join(path.read_text(encoding="utf-8") for path in k8s_files())
    assert "VESTNIK_KAFKA_PARTITIONS" in text and "partition" in text


def test_every_config_and_secret_reference_exists() -> None:
    config_maps, secrets = by_kind("ConfigMap"), by_kind("Secret")
    for name, deployment in by_kind("Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in config_maps, name
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets, name
        for variable in container.get("env", []):
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                assert reference["key"] in secrets[reference["name"]]["stringData"], name


def kubernetes_environment(name: str, secret_value: str | None = None) -> dict[str, str]:
    """A Deployment's container environment, as the kubelet would build it."""
    config_maps, secrets = by_kind("ConfigMap"), by_kind("Secret")
    (container,) = by_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"]
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(config_maps[source["configMapRef"]["name"]]["data"])
    for variable in container.get("env", []):
        reference = variable.get("valueFrom", {}).get("secretKeyRef")
        if reference:
            placeholder = secrets[reference["name"]]["stringData"][reference["key"]]
            environment[variable["name"]] = secret_value or placeholder
        else:
            environment[variable["name"]] = variable["value"]
    return environment


def test_kubernetes_sets_only_variables_the_services_read_and_they_accept_them() -> None:
    for name in SERVICES:
        environment = kubernetes_environment(name, secret_value=A_PRODUCTION_SECRET)
        # the ConfigMap is shared: each service ignores the others' settings, so only a name
        # that no service reads is a mistake
        known = set().union(*(variables_read_by(service) for service in SERVICES))
        unknown = {key for key in environment if key.startswith("VESTNIK_")} - known
        assert not unknown, f"{name} would silently ignore {sorted(unknown)}"
        settings = make_settings(name, environment)
        assert settings.model_dump()["environment"] == "production"


def test_the_placeholder_secret_keeps_the_services_from_starting() -> None:
    for name in SERVICES:
        with pytest.raises(ValidationError, match="VESTNIK_JWT_SECRET"):
            make_settings(name, kubernetes_environment(name))


def test_compose_and_kubernetes_agree_on_the_ports() -> None:
    compose = load_compose()["services"]
    deployments = by_kind("Deployment")
    for name in SERVICES:
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        default = settings_class(name).model_fields["port"].default
        assert (
            int(environment_of(compose[name])[f"VESTNIK_{name.upper()}_PORT"])
            == container["ports"][0]["containerPort"]
            == default
        ), name


def test_the_service_monitor_selects_the_services() -> None:
    monitors = [doc for doc in k8s_objects() if doc["kind"] == "ServiceMonitor"]
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        selector = monitor["spec"]["selector"]["matchLabels"]
        selected = [
            name
            for name, service in by_kind("Service").items()
            if selector.items() <= service["metadata"]["labels"].items()
        ]
        assert sorted(selected) == sorted(SERVICES)
        assert [endpoint["port"] for endpoint in monitor["spec"]["endpoints"]] == ["http"]
        assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_the_kustomization_lists_every_manifest() -> None:
    (kustomization,) = k8s_documents(K8S_DIR / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    listed = set(kustomization["resources"])
    present = {path.name for path in k8s_files()} - NOT_A_MANIFEST
    assert listed == present - OPTIONAL_MANIFESTS
    assert {image["name"] for image in kustomization["images"]} == {"vestnik"}


# --- The image ----------------------------------------------------------------------------------


def test_the_image_has_the_pdf_libraries_of_the_local_stack_and_runs_as_non_root() -> None:
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    script = (DEPLOY / "local" / "system" / "packages.sh").read_text(encoding="utf-8")
    local_packages = re.search(r"^runtime_packages=\((.*)\)$", script, re.MULTILINE)
    assert local_packages is not None
    for package in local_packages[1].split():
        assert re.search(rf"\s{re.escape(package)}\s", dockerfile), package
    assert re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)[0] == "${PYTHON_IMAGE}"
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in dockerfile
    (user,) = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert user.split(":")[0] not in ("root", "0")
    assert "VESTNIK_HOST=0.0.0.0" in dockerfile
    assert 'CMD ["vestnik", "serve", "grades"]' in dockerfile
    # the wheel's packages reach the build: `vestnik` imports deploy.local for its commands
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for needed in ("pyproject.toml", "services/", "schemas/", "deploy/"):
        assert f"!{needed}" in ignored, needed
    assert not [line for line in ignored if line.startswith(("deploy/local", "deploy/docker"))]


def test_the_entrypoint_turns_secret_files_into_settings(tmp_path: Path) -> None:
    secret = tmp_path / "jwt"
    secret.write_text(A_PRODUCTION_SECRET + "\n", encoding="utf-8")
    script = 'printf "%s|%s" "$VESTNIK_JWT_SECRET" "${VESTNIK_JWT_SECRET_FILE-unset}"'
    environment = {"PATH": os.environ["PATH"], "VESTNIK_JWT_SECRET_FILE": str(secret)}
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "sh", "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == f"{A_PRODUCTION_SECRET}|unset"
    missing = subprocess.run(
        ["sh", str(ENTRYPOINT), "true"],
        env={**environment, "VESTNIK_JWT_SECRET_FILE": str(tmp_path / "absent")},
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "VESTNIK_JWT_SECRET_FILE" in missing.stderr
