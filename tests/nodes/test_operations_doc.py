"""The nginx example of docs/operations.md is a configuration nginx accepts (``nginx -t``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.nginx import nginx_binary

DOC = Path(__file__).parents[2] / "docs" / "operations.md"

MAIN = """
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/thingport.conf;
}}
"""


def nginx_example() -> str:
    blocks = re.findall(r"```nginx\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1, "docs/operations.md should have one nginx example"
    return blocks[0]


def test_the_documented_nginx_config_is_valid(tmp_path: Path) -> None:
    # The example listens on port 80; a test may not bind it, and nginx -t does not bind.
    (tmp_path / "thingport.conf").write_text(nginx_example())
    (tmp_path / "nginx.conf").write_text(MAIN.format(prefix=tmp_path))
    checked = subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
         "-e", "stderr"], capture_output=True, text=True, timeout=30, check=False)
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def test_the_documented_read_timeout_outlasts_the_longest_poll() -> None:
    from thingport.settings import Settings

    timeouts = [int(t) for t in re.findall(r"proxy_read_timeout (\d+)s;", nginx_example())]
    assert timeouts and timeouts[0] * 1000 > Settings().max_request_timeout_ms
