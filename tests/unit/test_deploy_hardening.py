"""What the shipped containers may do, read from the files themselves (no Docker
engine, no cluster): the code is root's and the process is not, nothing runs with
privileges it does not need, only the ingress reaches the web pods and only the web
pods reach Redis and PostgreSQL, Redis wants a password, and the probes pass the
Host check (issue #21)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from chat.edge.middleware import PROBE_HOSTS
from tests.e2e.topology import DOCKERFILE, REPO_ROOT, compose
from tests.unit.test_deploy_drift import k8s

WORKLOADS = ("Deployment/chat-web", "Job/chat-migrate", "StatefulSet/redis")


def pod_spec(name: str) -> dict[str, Any]:
    return k8s()[name]["spec"]["template"]["spec"]


def containers() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name in WORKLOADS:
        spec = pod_spec(name)
        for container in spec["containers"]:
            yield name, spec, container


def dockerfile_lines() -> list[str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


# --- The image ---------------------------------------------------------------------------


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    """The last USER is a number (runAsNonRoot can only check a number) other than 0,
    and the same one the manifests run as."""
    users = [line.split()[1] for line in dockerfile_lines() if line.startswith("USER ")]
    assert users, "the Dockerfile has no USER: the server would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, users[-1]
    for name in ("Deployment/chat-web", "Job/chat-migrate"):
        assert pod_spec(name)["securityContext"]["runAsUser"] == int(uid), name


def test_the_code_in_the_image_belongs_to_root() -> None:
    """COPY leaves files root's (or says so); nothing hands /app to the runtime user:
    a compromised process cannot rewrite the code it runs."""
    for line in dockerfile_lines():
        if line.startswith(("COPY ", "ADD ")):
            chown = re.search(r"--chown=(\S+)", line)
            assert chown is None or chown[1] in ("root", "root:root", "0", "0:0"), line
        if line.startswith("RUN "):
            assert not re.search(r"\bchown\b", line), line
            assert not re.search(r"chmod\b[^&]*\b(777|o\+w|a\+w)", line), line


def test_tls_keys_stay_out_of_the_image_and_the_repository() -> None:
    dockerignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "deploy/certs" in dockerignore
    assert "deploy/certs/" in (REPO_ROOT / ".gitignore").read_text().splitlines()


# --- Kubernetes ------------------------------------------------------------------------


@pytest.mark.parametrize("name", WORKLOADS)
def test_every_pod_runs_as_non_root_with_a_read_only_root_and_no_capabilities(
    name: str,
) -> None:
    spec = pod_spec(name)
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert "add" not in context["capabilities"]
        assert context.get("privileged") is not True


@pytest.mark.parametrize("name", ["Deployment/chat-web", "Job/chat-migrate"])
def test_the_chat_gets_a_writable_tmp_and_nothing_else(name: str) -> None:
    spec = pod_spec(name)
    (container,) = spec["containers"]
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert mounts == {"tmp": "/tmp"}
    (volume,) = spec["volumes"]
    assert volume["name"] == "tmp" and "emptyDir" in volume


def network_policy(name: str) -> dict[str, Any]:
    policy = k8s()[f"NetworkPolicy/{name}"]["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    return policy


def peers(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return [peer for rule in policy["ingress"] for peer in rule["from"]]


def test_only_the_ingress_controller_and_the_scraper_reach_the_web_pods() -> None:
    policy = network_policy("chat-web")
    assert policy["podSelector"] == {"matchLabels": {"app": "chat-web"}}
    allowed = {"ingress-nginx", "prometheus"}
    for peer in peers(policy):
        assert "ipBlock" not in peer, peer  # no address range: every pod by its labels
        assert set(peer) == {"namespaceSelector", "podSelector"}, peer
        assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] in allowed
    assert [port["port"] for rule in policy["ingress"] for port in rule["ports"]] == [8000, 8000]
    ingress_peer = peers(policy)[0]
    assert ingress_peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }


def test_only_the_web_pods_reach_redis_and_postgresql() -> None:
    redis = network_policy("redis")
    assert redis["podSelector"] == {"matchLabels": {"app": "redis"}}
    assert peers(redis) == [{"podSelector": {"matchLabels": {"app": "chat-web"}}}]
    assert [p["port"] for r in redis["ingress"] for p in r["ports"]] == [6379]
    postgres = network_policy("postgres")
    assert postgres["podSelector"] == {"matchLabels": {"app": "postgres"}}
    (peer,) = peers(postgres)
    (expression,) = peer["podSelector"]["matchExpressions"]
    assert expression["key"] == "app" and expression["operator"] == "In"
    assert sorted(expression["values"]) == ["chat-migrate", "chat-web"]  # migrations too
    # The selectors name the pods the manifests make.
    labels = {name: k8s()[name]["spec"]["template"]["metadata"]["labels"] for name in WORKLOADS}
    assert labels == {
        "Deployment/chat-web": {"app": "chat-web"},
        "Job/chat-migrate": {"app": "chat-migrate"},
        "StatefulSet/redis": {"app": "redis"},
    }


def test_redis_wants_a_password_and_the_chat_has_it() -> None:
    (container,) = pod_spec("StatefulSet/redis")["containers"]
    args = container["args"]
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    env = {item["name"]: item for item in container["env"]}
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "chat-redis",
        "key": "password",
    }
    redis_url = k8s()["Secret/chat-secrets"]["stringData"]["REDIS_URL"]
    assert urlsplit(redis_url).password == k8s()["Secret/chat-redis"]["stringData"]["password"]
    assert "REDIS_URL" not in k8s()["ConfigMap/chat-config"]["data"]  # a secret now


def test_compose_redis_wants_a_password_and_the_chat_has_it() -> None:
    services = compose()["services"]
    command = services["redis"]["command"]
    assert command[command.index("--requirepass") + 1] == "${REDIS_PASSWORD:?set REDIS_PASSWORD}"
    redis_url = services["web"]["environment"]["REDIS_URL"]
    assert urlsplit(redis_url).password == "${REDIS_PASSWORD}"


@pytest.mark.parametrize("service", ["web", "migrate"])
def test_compose_runs_the_chat_read_only_without_capabilities(service: str) -> None:
    config = compose()["services"][service]
    assert config["read_only"] is True and config["tmpfs"] == ["/tmp"]
    assert config["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in config["security_opt"]
    assert "user" not in config  # the image's own non-root user


def test_the_probes_send_a_host_the_operations_paths_accept() -> None:
    """kubelet would send the pod's IP as Host, which is refused (400)."""
    (container,) = pod_spec("Deployment/chat-web")["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        headers = container[probe]["httpGet"]["httpHeaders"]
        assert headers == [{"name": "Host", "value": "localhost"}]
        assert "localhost" in PROBE_HOSTS


def test_the_ingress_refuses_the_operations_paths() -> None:
    operations = k8s()["Ingress/chat-web-operations"]
    annotation = operations["metadata"]["annotations"]
    assert annotation["nginx.ingress.kubernetes.io/denylist-source-range"] == "0.0.0.0/0,::/0"
    ((rule,),) = [operations["spec"]["rules"]]
    public = k8s()["Ingress/chat-web"]["spec"]["rules"][0]
    assert rule["host"] == public["host"]
    paths = {(p["path"], p["pathType"]) for p in rule["http"]["paths"]}
    assert paths == {(p, "Exact") for p in ("/healthz", "/readyz", "/metrics")}


def megabytes(size: str) -> int:
    assert size.endswith("m"), size
    return int(size[:-1]) * 1024 * 1024


def test_an_import_fits_through_the_proxies_and_nothing_else_grows() -> None:
    """POST /api/import/ takes IMPORT_MAX_BYTES and its form at the ingress and in
    deploy/nginx.conf, POST /api/attachments/ ATTACHMENT_MAX_BYTES and its form; every
    other path keeps the 1 MB limit."""
    body = "nginx.ingress.kubernetes.io/proxy-body-size"
    imports = k8s()["Ingress/chat-web-import"]
    assert megabytes(imports["metadata"]["annotations"][body]) > settings.IMPORT_MAX_BYTES
    ((rule,),) = [imports["spec"]["rules"]]
    assert rule["host"] == k8s()["Ingress/chat-web"]["spec"]["rules"][0]["host"]
    assert [(p["path"], p["pathType"]) for p in rule["http"]["paths"]] == [
        ("/api/import/", "Exact"),
        ("/api/attachments/", "Exact"),
    ]
    assert k8s()["Ingress/chat-web"]["metadata"]["annotations"][body] == "1m"
    conf = (REPO_ROOT / "deploy" / "nginx.conf").read_text()
    location = conf.split("location = /api/import/ {", 1)[1].split("}", 1)[0]
    size = re.search(r"client_max_body_size (\d+m);", location)
    assert size is not None and megabytes(size.group(1)) > settings.IMPORT_MAX_BYTES
    location = conf.split("location = /api/attachments/ {", 1)[1].split("}", 1)[0]
    size = re.search(r"client_max_body_size (\d+m);", location)
    assert size is not None and megabytes(size.group(1)) > settings.ATTACHMENT_MAX_BYTES


def test_the_drain_ends_before_the_orchestrators_kill() -> None:
    """CHAT_SHUTDOWN_GRACE_SECONDS (the drain) fits inside the grace period, with time
    to save what is left (test_deploy_drift checks the same for compose)."""
    drain = float(k8s()["ConfigMap/chat-config"]["data"]["CHAT_SHUTDOWN_GRACE_SECONDS"])
    grace = pod_spec("Deployment/chat-web")["terminationGracePeriodSeconds"]
    assert drain + 5 <= grace
