"""Preflight checks: can this host run the pipeline, and what to do when it cannot.

Each check returns `Check`s: a status (ok, warn, fail), what was seen, and the command that
fixes it. Paths and URLs are parameters so tests can point them at real temporary files.
"""
from __future__ import annotations

import glob
import grp
import os
import pwd
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

OK, WARN, FAIL = "ok", "warn", "fail"

SERIAL_GLOBS = ("/dev/ttyACM*", "/dev/ttyUSB*")
UDEV_DIRS = ("/etc/udev/rules.d", "/lib/udev/rules.d", "/usr/lib/udev/rules.d")
PROBES = {"0483": "ST-LINK (STMicroelectronics)", "1366": "J-Link (SEGGER)"}
UDEV_FIX = {
    "0483": "sudo cp $ZEPHYR_SDK_INSTALL_DIR/sysroots/x86_64-pokysdk-linux/usr/share/openocd/contrib/"
            "60-openocd.rules /etc/udev/rules.d/ && sudo udevadm control --reload (or apt-get install openocd)",
    "1366": "install SEGGER J-Link software (ships 99-jlink.rules), or sudo cp 99-jlink.rules "
            "/etc/udev/rules.d/ && sudo udevadm control --reload",
}
UPSTREAMS = {
    "github": "https://github.com",
    "raw.githubusercontent": "https://raw.githubusercontent.com",
    "pypi": "https://pypi.org/simple/pip/",
    "debian": "http://deb.debian.org/debian/dists/bookworm/Release",
}
# tvm + zephyr images with sources and SDK take roughly this much.
DISK_NEEDED_GB = 20.0


@dataclass
class Check:
    name: str
    status: str
    detail: str
    fix: str = ""
    data: dict = field(default_factory=dict)


def check_docker(engine=None) -> list[Check]:
    from bundle.engine.docker import DockerEngine

    engine = engine or DockerEngine()
    ok, detail = engine.available()
    if ok:
        return [Check("docker", OK, detail)]
    return [Check("docker", FAIL, detail,
                  "install and start Docker (apt-get install docker.io && systemctl start docker), "
                  "add yourself to the docker group (sudo usermod -aG docker $USER), or use --engine local")]


def check_images(engine=None, reachable: frozenset[str] | None = None) -> list[Check]:
    from bundle.engine.docker import DockerEngine
    from bundle.engine.images import HostCaps, plan_images

    engine = engine or DockerEngine()
    docker_ok = engine.available()[0]
    host = HostCaps(docker=docker_ok, reachable=reachable if reachable is not None else frozenset())
    checks = []
    for plan in plan_images(host):
        found = engine.find_image(plan.target) if docker_ok else None
        if found:
            checks.append(Check(f"image {plan.target}", OK, f"present: {found.tag}", data={"id": found.image_id}))
        elif plan.buildable:
            checks.append(Check(f"image {plan.target}", WARN, "not built yet (buildable here)",
                                f"tinyrepro images build --target {plan.target}"))
        else:
            checks.append(Check(f"image {plan.target}", WARN,
                                f"cannot be built here: {plan.reason}; stages {', '.join(plan.stages)} will be NOT_RUN",
                                "run on a host with access to GitHub, or load a prebuilt image (docker load)"))
    return checks


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _user_groups() -> set[int]:
    return set(os.getgroups()) | {os.getgid()}


def check_serial(globs: tuple[str, ...] = SERIAL_GLOBS) -> list[Check]:
    ports = sorted(p for pattern in globs for p in glob.glob(pattern))
    if not ports:
        return [Check("serial devices", WARN, f"none found ({', '.join(globs)})",
                      "plug the board in (USB), or use the simulated DUT (tinyrepro sim)")]
    checks = []
    for port in ports:
        st = os.stat(port)
        group = _group_name(st.st_gid)
        owner = _owner_name(st.st_uid)
        usable = os.access(port, os.R_OK | os.W_OK)
        detail = f"{port} owner {owner} group {group} mode {oct(st.st_mode & 0o777)}"
        if usable:
            checks.append(Check(f"serial {port}", OK, detail, data={"group": group}))
        else:
            user = pwd.getpwuid(os.getuid()).pw_name
            checks.append(Check(f"serial {port}", FAIL, detail + ": not readable/writable by you",
                                f"sudo usermod -aG {group} {user} (then log out and in)", data={"group": group}))
    return checks


def _owner_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_udev(dirs: tuple[str, ...] = UDEV_DIRS, probes: dict[str, str] = PROBES) -> list[Check]:
    found: dict[str, list[str]] = {vid: [] for vid in probes}
    for d in dirs:
        for rules in sorted(Path(d).glob("*.rules")) if Path(d).is_dir() else []:
            text = rules.read_text(errors="replace")
            for vid in probes:
                if re.search(rf'ATTRS?\{{idVendor\}}\s*==\s*"{vid}"', text, re.IGNORECASE):
                    found[vid].append(str(rules))
    checks = []
    for vid, label in probes.items():
        if found[vid]:
            checks.append(Check(f"udev {label}", OK, f"VID {vid} in {', '.join(found[vid])}"))
        else:
            checks.append(Check(
                f"udev {label}", WARN, f"no udev rule for VID {vid}: flashing needs root",
                UDEV_FIX.get(vid, "add a udev rule for this probe")))
    return checks


def check_disk(path: str | os.PathLike = ".", needed_gb: float = DISK_NEEDED_GB) -> list[Check]:
    usage = shutil.disk_usage(path)
    free_gb = usage.free / 1e9
    detail = f"{free_gb:.1f} GB free at {os.path.abspath(path)}"
    if free_gb >= needed_gb:
        return [Check("disk", OK, detail, data={"free_gb": round(free_gb, 1)})]
    return [Check("disk", WARN, detail + f" (tvm + zephyr images need about {needed_gb:g} GB)",
                  "docker system prune, or free space on this filesystem", data={"free_gb": round(free_gb, 1)})]


def probe_url(url: str, timeout_s: float) -> tuple[bool, str]:
    import requests

    try:
        r = requests.head(url, timeout=timeout_s, allow_redirects=True)
    except requests.RequestException as err:
        return False, type(err).__name__
    return r.status_code < 500, f"HTTP {r.status_code}"


def check_network(upstreams: dict[str, str] | None = None, timeout_s: float = 3.0) -> list[Check]:
    upstreams = UPSTREAMS if upstreams is None else upstreams
    with ThreadPoolExecutor(max_workers=len(upstreams) or 1) as pool:
        results = dict(zip(upstreams, pool.map(lambda u: probe_url(u, timeout_s), upstreams.values())))
    checks = []
    for name, url in upstreams.items():
        ok, detail = results[name]
        checks.append(Check(f"network {name}", OK if ok else WARN, f"{url}: {detail}",
                            "" if ok else "set HTTPS_PROXY, or use the offline mirror (--mirror DIR); "
                                          "stages that need this upstream are skipped",
                            data={"reachable": ok}))
    return checks


def reachable_upstreams(checks: list[Check]) -> frozenset[str]:
    names = {c.name.removeprefix("network ") for c in checks if c.name.startswith("network ") and c.data.get("reachable")}
    if "raw.githubusercontent" not in names:
        names.discard("github")
    return frozenset(names)


# Board-free DUTs (tinyrepro run --dut host|qemu): the tools each needs.
NATIVE_TOOLS = {"host": ("gcc", "g++"), "qemu": ("arm-none-eabi-gcc", "arm-none-eabi-g++", "qemu-system-arm")}


def check_native_tools(which=None) -> list[Check]:
    import shutil

    which = which or shutil.which
    checks = []
    for dut, tools in NATIVE_TOOLS.items():
        missing = [t for t in tools if which(t) is None]
        if missing:
            checks.append(Check(f"{dut} DUT", WARN, f"missing: {', '.join(missing)}",
                                fix="make deps (as root), or the apt-get install line it prints"))
        else:
            checks.append(Check(f"{dut} DUT", OK, f"{', '.join(tools)} installed"))
    return checks


def run_all(artifacts: str = "artifacts") -> list[Check]:
    network = check_network()
    checks = check_docker() + check_images(reachable=reachable_upstreams(network))
    checks += check_serial() + check_udev() + check_native_tools()
    checks += check_disk(artifacts if os.path.isdir(artifacts) else ".") + network
    return checks


def as_json(checks: list[Check]) -> list[dict]:
    return [asdict(c) for c in checks]


def worst(checks: list[Check]) -> str:
    statuses = {c.status for c in checks}
    return FAIL if FAIL in statuses else WARN if WARN in statuses else OK
