"""The deployment files say what the security rules need (no Docker engine, no proxy
needed to read them; nginx's own check runs when nginx is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO_ROOT / "deploy" / "nginx.conf"


def dockerignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_no_env_file_enters_the_docker_image() -> None:
    patterns = dockerignore_patterns()
    assert ".env" in patterns and ".env.*" in patterns
    # Docker applies the last matching line: nothing after them may let one back in,
    # except the example file, which holds no secret.
    after = patterns[patterns.index(".env.*") + 1 :]
    assert [p for p in after if p.startswith("!")] in ([], ["!.env.example"])


def proxy_headers() -> dict[str, str]:
    text = NGINX_CONF.read_text()
    return dict(re.findall(r"^\s*proxy_set_header\s+(\S+)\s+(.+?);", text, re.M))


def test_nginx_forwards_the_address_it_saw_not_what_the_client_sent() -> None:
    headers = proxy_headers()
    assert headers["X-Forwarded-For"] == "$remote_addr"
    assert headers["X-Real-IP"] == "$remote_addr"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert "$proxy_add_x_forwarded_for" not in NGINX_CONF.read_text()


@pytest.mark.skipif(not shutil.which("nginx", path="/usr/sbin:/usr/bin"), reason="no nginx")
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    """As the topology test runs it: `web` (Docker's name) resolves nowhere else."""
    from tests.e2e.topology import NginxPorts, render_nginx, self_signed_certificate

    (tmp_path / "logs").mkdir()
    self_signed_certificate(tmp_path / "certs")
    site = tmp_path / "site.conf"
    site.write_text(render_nginx([8001, 8002, 8003], NginxPorts(), tmp_path))
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\nevents {{}}\n"
        f"http {{\n    access_log off;\n    include {site};\n}}\n"
    )
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin")
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
