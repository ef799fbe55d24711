"""No drift between what ships and what is tested: the compose file, the Dockerfile,
deploy/nginx.conf and deploy/k8s/*.yaml use the commands, ports, paths, probes and
environment variables that the topology test runs (tests/e2e/topology.py reads the
same files) and that the settings read."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.e2e.topology import COMPOSE_FILE, NGINX_CONF, REPO_ROOT, compose, dockerfile_cmd

K8S = sorted((REPO_ROOT / "deploy" / "k8s").glob("*.yaml"))
SOURCES = [*(REPO_ROOT / "chatsite").glob("*.py"), *(REPO_ROOT / "chat").glob("*.py")]
SOURCES += [*(REPO_ROOT / "security").glob("*.py")]


def settings_read() -> set[str]:
    """Every environment variable the code reads (env_*("X"), os.environ.get("X"))."""
    pattern = re.compile(r'(?:env_[a-z]+|os\.environ\.get|os\.environ\[)\(?\s*"([A-Z][A-Z0-9_]+)"')
    return {name for path in SOURCES for name in pattern.findall(path.read_text())}


def k8s() -> dict[str, dict[str, Any]]:
    """The manifests by kind/name."""
    found = {}
    for path in K8S:
        for document in yaml.safe_load_all(path.read_text()):
            found[f"{document['kind']}/{document['metadata']['name']}"] = document
    return found


def web_container() -> dict[str, Any]:
    (container,) = k8s()["Deployment/chat-web"]["spec"]["template"]["spec"]["containers"]
    return container


def cmd_port() -> int:
    command = dockerfile_cmd()
    return int(command[command.index("-p") + 1])


def test_every_variable_the_deployment_sets_is_one_the_settings_read() -> None:
    read = settings_read()
    assert "REDIS_URL" in read and "DATABASE_URL" in read  # the pattern finds them
    compose_env = set(compose()["services"]["web"]["environment"])
    assert compose_env - read == set()
    manifests = k8s()
    k8s_env = set(manifests["ConfigMap/chat-config"]["data"])
    k8s_env |= set(manifests["Secret/chat-secrets"]["stringData"])
    assert k8s_env - read == set()
    example = {
        line.split("=", 1)[0]
        for line in (REPO_ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    # .env.example feeds compose: its names are compose's own or settings read.
    compose_own = {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "HTTP_PORT", "HTTPS_PORT"}
    assert example - read - compose_own == set()
    for name in compose_own:
        assert "${" + name in COMPOSE_FILE.read_text(), name


def test_one_command_and_one_port_everywhere() -> None:
    port = cmd_port()
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert f"EXPOSE {port}" in dockerfile
    # Kubernetes runs the image's own command (no override): the one the topology ran.
    container = web_container()
    assert "command" not in container and "args" not in container
    assert [p["containerPort"] for p in container["ports"]] == [port]
    service = k8s()["Service/chat-web"]["spec"]["ports"]
    assert [p["targetPort"] for p in service] == [port]
    # The same migration command in compose (which the topology runs) and the Job.
    (job,) = k8s()["Job/chat-migrate"]["spec"]["template"]["spec"]["containers"]
    assert job["command"] == compose()["services"]["migrate"]["command"]
    assert "command" not in compose()["services"]["web"]
    # nginx proxies to the compose service `web` on the same port.
    assert re.search(rf"^\s*server web:{port}\b", NGINX_CONF.read_text(), re.M)


def test_probes_and_health_checks_use_the_endpoints_the_topology_test_checks() -> None:
    container = web_container()
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        check = container[probe]["httpGet"]
        assert (check["path"], check["port"]) == (path, cmd_port()), probe
    web_check = " ".join(compose()["services"]["web"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{cmd_port()}/readyz" in web_check
    proxy_check = " ".join(compose()["services"]["proxy"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8081/nginx-health" in proxy_check  # nginx's own
    assert "listen 127.0.0.1:8081;" in NGINX_CONF.read_text()
    for service in ("db", "redis", "web", "proxy"):
        assert "healthcheck" in compose()["services"][service], service


@pytest.mark.django_db
def test_the_probed_paths_answer(client: Any) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)  # it exists; e2e checks the rest


def _seconds(value: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m)?", str(value)).groups()
    return float(number) * (60 if unit == "m" else 1)


def test_the_shutdown_grace_fits_inside_the_orchestrators_kill_timeout() -> None:
    web = compose()["services"]["web"]
    grace = float(re.search(r":-(\d+)", web["environment"]["CHAT_SHUTDOWN_GRACE_SECONDS"])[1])
    assert grace + 5 <= _seconds(web["stop_grace_period"])
    config = k8s()["ConfigMap/chat-config"]["data"]
    pod = k8s()["Deployment/chat-web"]["spec"]["template"]["spec"]
    assert float(config["CHAT_SHUTDOWN_GRACE_SECONDS"]) + 5 <= pod["terminationGracePeriodSeconds"]


def test_proxies_keep_websockets_open_longer_than_daphnes_ping() -> None:
    command = dockerfile_cmd()
    ping = float(command[command.index("--ping-interval") + 1])
    nginx = NGINX_CONF.read_text()
    read_timeout = _seconds(re.search(r"proxy_read_timeout\s+(\S+);", nginx)[1])
    assert read_timeout > 2 * ping
    assert "proxy_buffering off;" in nginx
    annotations = k8s()["Ingress/chat-web"]["metadata"]["annotations"]
    assert float(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) > 2 * ping
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
