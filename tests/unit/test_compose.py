"""compose/compose.yaml is rendered from the pipeline's StageSpecs; they must agree."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bundle.pipeline import compose

REPO = Path(__file__).resolve().parents[2]
FILE = REPO / "compose" / "compose.yaml"
SERVICES = ["compile", "firmware", "flash", "run", "report"]


@pytest.fixture(scope="module")
def committed() -> dict:
    return yaml.safe_load(FILE.read_text())


def test_committed_file_matches_the_stage_specs(committed):
    assert committed == compose.render(), (
        "compose/compose.yaml is stale: python -m bundle.pipeline.compose > compose/compose.yaml")
    assert FILE.read_text() == compose.render_text()


def test_one_service_per_stage(committed):
    assert list(committed["services"]) == SERVICES
    targets = {name: svc["build"]["target"] for name, svc in committed["services"].items()}
    assert targets == {"compile": "tvm", "firmware": "zephyr", "flash": "zephyr", "run": "runner", "report": "runner"}


def test_isolation_policy(committed):
    for spec in compose.pipeline_specs(compose.COMPOSE_CONTEXT):
        svc = committed["services"][spec.name]
        assert svc["user"] == "${UID:-1000}:${GID:-1000}"
        assert "privileged" not in svc and svc["cap_drop"] == ["ALL"]
        assert svc["network_mode"] == "none"  # no stage of the pipeline needs the network
        inputs = [v for v in svc["volumes"] if ":/inputs" in v]
        assert all(v.endswith(":ro") for v in inputs)
        assert any(":/artifacts" in v for v in svc["volumes"])


def test_devices(committed):
    services = committed["services"]
    assert services["run"]["devices"] == ["${DUT_PORT:-/dev/ttyACM0}:/dev/ttyDUT"]
    assert services["flash"]["devices"] == ["${PROBE_DEVICE:-/dev/bus/usb}:/dev/bus/usb"]
    for name in ("compile", "firmware", "report"):
        assert "devices" not in services[name]


@pytest.mark.parametrize("binary", ["docker-compose", "docker compose"])
def test_compose_validates_it(binary, tmp_path):
    cmd = binary.split()
    if not shutil.which(cmd[0]):
        pytest.skip(f"{cmd[0]} not installed")
    if len(cmd) > 1 and subprocess.run([*cmd, "version"], capture_output=True).returncode != 0:
        pytest.skip(f"`{binary}` plugin not installed")
    env = {"PATH": "/usr/bin:/bin", "DUT_PORT": "/dev/ttyACM3", "HOME": str(tmp_path)}
    out = subprocess.run([*cmd, "-f", str(FILE), "config"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    resolved = yaml.safe_load(out.stdout)
    assert resolved["services"]["run"]["devices"] == ["/dev/ttyACM3:/dev/ttyDUT"]
