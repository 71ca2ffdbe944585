"""Preflight checks against real files, devices and sockets."""
from __future__ import annotations

import grp
import http.server
import json
import os
import socket
import threading
from pathlib import Path

import pytest

from bundle import doctor
from bundle.engine.images import HostCaps, plan_images

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "udev"


def by_name(checks):
    return {c.name: c for c in checks}


def test_udev_rules_found_per_probe(tmp_path):
    checks = by_name(doctor.check_udev(dirs=(str(CORPUS), str(tmp_path / "missing"))))
    assert checks["udev ST-LINK (STMicroelectronics)"].status == doctor.OK
    assert "49-stlinkv2-1.rules" in checks["udev ST-LINK (STMicroelectronics)"].detail
    assert checks["udev J-Link (SEGGER)"].status == doctor.OK


def test_udev_rules_missing_says_how_to_fix(tmp_path):
    (tmp_path / "60-other.rules").write_text((CORPUS / "60-other.rules").read_text())
    for check in doctor.check_udev(dirs=(str(tmp_path),)):
        assert check.status == doctor.WARN and "udev" in check.fix and check.fix


def test_serial_devices_report_owner_group_and_access(tmp_path):
    port = tmp_path / "ttyACM0"
    port.write_text("")
    port.chmod(0o660)
    [check] = doctor.check_serial(globs=(str(tmp_path / "ttyACM*"),))
    assert check.name == f"serial {port}"
    assert check.data["group"] == grp.getgrgid(port.stat().st_gid).gr_name
    assert check.status == doctor.OK  # we own it


def test_unreadable_serial_device_fails_with_usermod_fix(tmp_path):
    port = tmp_path / "ttyUSB0"
    port.write_text("")
    port.chmod(0o000)
    if os.access(port, os.R_OK | os.W_OK):
        pytest.skip("running as root: every device is accessible")
    [check] = doctor.check_serial(globs=(str(tmp_path / "ttyUSB*"),))
    assert check.status == doctor.FAIL and "usermod -aG" in check.fix


def test_no_serial_devices_is_a_warning(tmp_path):
    [check] = doctor.check_serial(globs=(str(tmp_path / "ttyACM*"),))
    assert check.status == doctor.WARN and "sim" in check.fix


def test_disk_threshold(tmp_path):
    assert doctor.check_disk(tmp_path, needed_gb=0)[0].status == doctor.OK
    low = doctor.check_disk(tmp_path, needed_gb=1e9)[0]
    assert low.status == doctor.WARN and low.fix and low.data["free_gb"] >= 0


@pytest.fixture
def http_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


def test_network_reachability_with_short_timeouts(http_server):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/"
    checks = by_name(doctor.check_network({"pypi": http_server, "github": closed}, timeout_s=1))
    assert checks["network pypi"].status == doctor.OK and checks["network pypi"].data["reachable"]
    assert checks["network github"].status == doctor.WARN and checks["network github"].fix
    assert doctor.reachable_upstreams(list(checks.values())) == frozenset({"pypi"})


def test_image_plan_says_what_is_skipped_and_why():
    plans = {p.target: p for p in plan_images(HostCaps(docker=True, reachable=frozenset({"pypi", "debian"})))}
    assert plans["runner"].buildable
    # TVM's sources come through the fetch layer (a mirror clone will do): no GitHub needed.
    assert plans["tvm"].buildable and plans["tvm"].stages == ("compile",)
    assert "tvm-builder" not in plans   # a step of tvm, not planned on its own
    assert not plans["zephyr"].buildable and "github" in plans["zephyr"].reason
    pypi_only = {p.target: p for p in plan_images(HostCaps(docker=True, reachable=frozenset({"pypi"})))}
    assert not pypi_only["tvm"].buildable and "debian" in pypi_only["tvm"].reason
    everything = {p.target: p for p in plan_images(HostCaps(True, frozenset({"pypi", "debian", "github"})))}
    assert everything["tvm"].buildable and everything["zephyr"].buildable
    nodocker = plan_images(HostCaps(docker=False, reachable=frozenset({"pypi"})))
    assert all(not p.buildable and "Docker" in p.reason for p in nodocker)


def test_worst_status_and_json():
    checks = [doctor.Check("a", doctor.OK, "x"), doctor.Check("b", doctor.WARN, "y", "fix it")]
    assert doctor.worst(checks) == doctor.WARN
    assert doctor.worst(checks + [doctor.Check("c", doctor.FAIL, "z")]) == doctor.FAIL
    assert json.loads(json.dumps(doctor.as_json(checks)))[1]["fix"] == "fix it"


def test_doctor_command_json(capsys, monkeypatch):
    from bundle.cli import main

    # Tests never reach the internet: every upstream points at a closed loopback port.
    closed = {name: "http://127.0.0.1:9/" for name in doctor.UPSTREAMS}
    monkeypatch.setattr(doctor, "UPSTREAMS", closed)
    code = main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert {c["name"] for c in report["checks"]} >= {"docker", "disk", "network pypi", "image runner"}
    assert code == (7 if report["status"] == "fail" else 0)
