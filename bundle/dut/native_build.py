"""Build a published firmware project for a board-free DUT: on the host, or for QEMU.

A project is one folder of OctoML's code tree (`<variant>/<board>/<benchmark>/`): model code
in Model Library Format (`model/codegen/host/src/*.c`), the TVM CRT files it ships
(`crt/src/runtime/crt/{memory,common}`), the EEMBC harness (`src/api/*.cpp`) and the
submitter's sources (`src/*.cpp`). Those are compiled unchanged, with their compile
definitions read from the project's CMakeLists.txt and Kconfig values from prj.conf, next to
our Zephyr shim (`bundle/dut/native/`). Builds are cached by the hash of everything that goes
into them, under `<build_dir>/<target>/<hash>/`.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from bundle.errors import BuildError, ConfigError, StageUnavailable

NATIVE = Path(__file__).resolve().parent / "native"
SHIM_INCLUDE = NATIVE / "zephyr" / "include"
CRT_LIBS = ("memory", "common")       # the CRT libraries the projects' CMakeLists build
CMSIS_NN_DIRS = ("ActivationFunctions", "BasicMathFunctions", "ConcatenationFunctions",
                 "ConvolutionFunctions", "FullyConnectedFunctions", "NNSupportFunctions",
                 "PoolingFunctions", "ReshapeFunctions", "SoftmaxFunctions")
CMSIS_INCLUDES = ("CMSIS/Core/Include", "CMSIS/NN/Include", "CMSIS/DSP/Include", "CMSIS/DSP/Include/dsp")
Runner = Callable[..., subprocess.CompletedProcess]


# -- the project, as its build files describe it -----------------------------------------
@dataclass(frozen=True)
class Project:
    root: Path
    defines: dict[str, str]          # from target_compile_definitions(... -DNAME=VALUE)
    kconfig: dict[str, str]          # from prj.conf, as Zephyr's autoconf.h would define them
    cmsis: bool                      # set(ENABLE_CMSIS TRUE)

    @classmethod
    def load(cls, root: Path, energy_mode: bool = False) -> "Project":
        root = Path(root).resolve()
        cmake = root / "CMakeLists.txt"
        if not cmake.is_file() or not (root / "src").is_dir():
            raise ConfigError(f"{root} is not a firmware project (no CMakeLists.txt and src/)",
                              hint="point at <code>/<variant>/<board>/<benchmark>/, e.g. "
                                   "microtvm_native/NUCLEO_L4R5ZI/kws")
        text = _strip_cmake_comments(cmake.read_text(encoding="utf-8", errors="replace"))
        variables = _cmake_variables(text)
        if energy_mode:
            variables["ENERGY_MODE"] = "1"
        defines = {}
        for m in re.finditer(r"target_compile_definitions\s*\(\s*\S+\s+(?:PUBLIC|PRIVATE|INTERFACE)\s+([^)]*)\)", text):
            for item in m[1].split():
                if item.startswith("-D"):
                    name, _, value = item[2:].partition("=")
                    defines[name] = _expand(value, variables) if value else "1"
        conf = root / "prj.conf"
        kconfig = parse_kconfig(conf.read_text(encoding="utf-8")) if conf.is_file() else {}
        cmsis = variables.get("ENABLE_CMSIS", "FALSE").upper() in ("TRUE", "ON", "1", "YES")
        return cls(root, defines, kconfig, cmsis)

    @property
    def name(self) -> str:
        parts = self.root.resolve().parts
        return "/".join(parts[-3:])

    def source_groups(self, cmsis_root: Path | None = None) -> dict[str, list[Path]]:
        """As the project's CMakeLists groups them: "app" is linked as objects, every other
        group is a static library, so a library member is only linked when something needs
        it (the CRT's common library defines functions the app also defines)."""
        r = self.root
        groups = {lib: [p for ext in ("*.c", "*.cc") for p in sorted((r / "crt/src/runtime/crt" / lib).rglob(ext))]
                  for lib in CRT_LIBS}
        groups["tvm_model"] = sorted((r / "model/codegen/host/src").rglob("*.c"))
        app = sorted((r / "src").rglob("*.cpp"))          # src/**.cpp: the harness in src/api/ too
        if self.cmsis and cmsis_root is not None:
            app += [p for d in CMSIS_NN_DIRS for p in sorted((cmsis_root / "CMSIS/NN/Source" / d).glob("*.c"))]
        groups["app"] = app
        return groups

    def sources(self, cmsis_root: Path | None = None) -> list[Path]:
        return list(dict.fromkeys(p for group in self.source_groups(cmsis_root).values() for p in group))

    def prebuilt_objects(self) -> list[Path]:
        return sorted((self.root / "model/codegen/host/lib").glob("*.o"))

    def include_dirs(self, cmsis_root: Path | None = None) -> list[Path]:
        r = self.root
        dirs = [r / "include", r / "crt_config", r / "crt/include", r / "model/codegen/host/include", r / "src"]
        if self.cmsis and cmsis_root is not None:
            dirs += [cmsis_root / d for d in CMSIS_INCLUDES]
        return [d for d in dirs if d.is_dir()]

    def optimisation(self) -> str:
        # Zephyr: CONFIG_SPEED_OPTIMIZATIONS=y builds with -O2, its default is -Os (size)
        return "-O2" if self.kconfig.get("CONFIG_SPEED_OPTIMIZATIONS") == "1" else "-Os"


def rel_flags(text: str, roots: dict[Path, str]) -> str:
    for root, name in roots.items():
        text = text.replace(str(root), name)
    return text


def _strip_cmake_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def _cmake_variables(text: str) -> dict[str, str]:
    out = {}
    for m in re.finditer(r"\boption\s*\(\s*(\w+)\s+\"[^\"]*\"\s+(\S+?)\s*\)", text):
        out[m[1]] = m[2]
    for m in re.finditer(r"\bset\s*\(\s*(\w+)\s+([^\s)]+)\s*\)", text):
        out[m[1]] = m[2]
    return out


def _expand(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m[1], ""), value)


def parse_kconfig(text: str) -> dict[str, str]:
    """prj.conf lines as autoconf.h defines: y -> 1, n -> absent, strings keep their quotes."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if value == "n":
            out.pop(key, None)
        else:
            out[key] = "1" if value == "y" else value
    return out


# -- targets -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A compiler, its flags and the shim sources that make a program of a project."""

    name: str
    cc: str
    cxx: str
    ar: str
    arch_flags: tuple[str, ...]
    shim_sources: tuple[str, ...]        # relative to bundle/dut/native/src
    link_flags: tuple[str, ...]
    defines: dict[str, str] = field(default_factory=dict)
    package: str = ""                    # the Debian package that provides the compiler
    include_dirs: tuple[str, ...] = ()   # relative to bundle/dut/native, searched before the shim


HOST = Target("host", os.environ.get("CC", "gcc"), os.environ.get("CXX", "g++"), os.environ.get("AR", "ar"), (),
              ("shim.c", "port_host.c", "board_host.c"), ("-lpthread", "-lm"), package="build-essential",
              include_dirs=("host/include",))  # the libc behaviour of newlib the sources rely on


def qemu_target(defines: dict[str, str]) -> Target:
    # As a Zephyr 2.7 build for a Cortex-M4F board compiles, with our startup and linker script.
    return Target("qemu", "arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-ar",
                  ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
                  ("shim.c", "port_qemu.c", "startup_qemu.c"),
                  ("-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                   f"-T{NATIVE / 'qemu_mps2_an386.ld'}", "-lm"),
                  defines, package="gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib",
                  include_dirs=("qemu/include",))  # newlib's <inttypes.h> as Zephyr's toolchain has it


COMMON_FLAGS = ("-ffunction-sections", "-fdata-sections", "-fno-common", "-g",
                "-Wno-unused-variable", "-Wno-unused-function")
C_FLAGS = ("-std=gnu99",)
CXX_FLAGS = ("-std=c++11", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics")


@dataclass
class BuildResult:
    program: Path
    target: str
    project: str
    digest: str
    reused: bool
    files: int


_ERROR_LINE = re.compile(r"(?:\b(?:fatal )?error\b|undefined reference)", re.IGNORECASE)


def first_error(lines: list[str]) -> str:
    """The compiler's (or linker's) first error line: the cause, before the notes that follow."""
    return next((line.strip() for line in lines if _ERROR_LINE.search(line)),
                lines[0].strip() if lines else "no output")


class NativeBuilder:
    """Compile and link one project for one target, cached by content hash."""

    def __init__(self, build_dir: Path, run: Runner = subprocess.run, jobs: int = 2):
        self.build_dir = Path(build_dir)
        self.run = run
        self.jobs = jobs

    def build(self, project: Project, target: Target, cmsis_root: Path | None = None) -> BuildResult:
        if project.cmsis and cmsis_root is None:
            raise StageUnavailable(f"{project.name} is a CMSIS-NN build and the pinned CMSIS "
                                   "(toolchain.cmsis) is not available",
                                   hint="fetch it on a networked host, or put a clone of ARM-software/CMSIS_5 "
                                        "at <mirror>/git/CMSIS_5")
        self._check_tools(target)
        objects = project.prebuilt_objects()
        if objects and target.name == "host":
            raise StageUnavailable(f"{project.name} ships prebuilt board objects "
                                   f"({', '.join(p.name for p in objects)}), which cannot run on the host",
                                   hint="use --dut qemu, which links them for the Cortex-M4F")
        groups = project.source_groups(cmsis_root)
        groups["app"] = groups["app"] + [NATIVE / "src" / s for s in target.shim_sources]
        sources = list(dict.fromkeys(p for g in groups.values() for p in g))
        includes = (project.include_dirs(cmsis_root) + [NATIVE / d for d in target.include_dirs]
                    + [SHIM_INCLUDE, NATIVE / "src"])
        defines = {**project.kconfig, **project.defines, "__ZEPHYR__": "1", **target.defines}
        flags = (*target.arch_flags, project.optimisation(), *COMMON_FLAGS,
                 *(f"-D{k}={v}" for k, v in sorted(defines.items())), *(f"-I{d}" for d in includes))
        roots = {project.root.resolve(): "<project>", NATIVE: "<native>"}
        if cmsis_root is not None:
            roots[Path(cmsis_root).resolve()] = "<cmsis>"
        digest = self._digest(target, sources + objects, includes, flags, roots)
        out = self.build_dir / target.name / digest
        program = out / "firmware.elf"
        if program.is_file():
            return BuildResult(program, target.name, project.name, digest, True, len(sources))
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=out.parent))
        try:
            obj_of = dict(zip(sources, self._compile_all(target, sources, flags, work, roots)))
            archives = []
            for name, members in groups.items():
                if name != "app" and members:
                    archives.append(work / f"lib{name}.a")
                    self._cmd([target.ar, "rcs", str(archives[-1]), *(str(obj_of[m]) for m in members)],
                              f"archive {name}")
            app = [str(obj_of[s]) for s in groups["app"]] + [str(o) for o in objects]
            self._cmd([target.cxx, *target.arch_flags, "-Wl,--gc-sections", "-o", str(work / "firmware.elf"),
                       *app, "-Wl,--start-group", *map(str, archives), "-Wl,--end-group", *target.link_flags],
                      f"link {project.name} for {target.name}")
            shutil.rmtree(out, ignore_errors=True)
            os.replace(work, out)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return BuildResult(program, target.name, project.name, digest, False, len(sources))

    def _compile_all(self, target: Target, sources: list[Path], flags: tuple[str, ...], work: Path,
                     roots: dict[Path, str]) -> list[Path]:
        """Objects are shared between builds (`<build_dir>/objects/<target>/<key>.o`): the key is
        the preprocessed source with the roots' paths replaced, and the flags that act after
        preprocessing. The CMSIS-NN, CRT and harness sources of the 12 projects compile once.
        -ffile-prefix-map keeps the roots' paths out of the objects, so a shared one is exact."""
        store = self.build_dir / "objects" / target.name
        store.mkdir(parents=True, exist_ok=True)
        prefix_maps = tuple(f"-ffile-prefix-map={root}=/{name.strip('<>')}" for root, name in roots.items())
        codegen = tuple(f for f in flags if not f.startswith(("-D", "-I")))
        version = self._compiler_version(target)

        def one(i_src):
            i, src = i_src
            obj = work / f"{i:04d}-{src.stem}.o"
            is_cxx = src.suffix in (".cpp", ".cc")
            base = [target.cxx if is_cxx else target.cc, *flags, *(CXX_FLAGS if is_cxx else C_FLAGS)]
            pre = self._output([*base, "-E", str(src)], f"preprocess {src}")
            key = hashlib.sha256(repr((version, target.name, codegen, is_cxx)).encode()
                                 + rel_flags(pre, roots).encode()).hexdigest()[:32]
            shared = store / f"{key}.o"
            if not shared.is_file():
                self._cmd([*base, *prefix_maps, "-c", str(src), "-o", str(obj)], f"compile {src}")
                tmp = store / f".{key}.{os.getpid()}.{i}.o"
                shutil.copyfile(obj, tmp)
                os.replace(tmp, shared)
            else:
                shutil.copyfile(shared, obj)
            return obj

        with ThreadPoolExecutor(self.jobs) as pool:
            return list(pool.map(one, enumerate(sources)))

    def _output(self, cmd: list[str], what: str) -> str:
        done = self.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout or "").strip().splitlines()
            raise BuildError(f"{what} failed: {first_error(lines)}\n" + "\n".join(lines[-15:]),
                             hint="the project's sources need a Zephyr API the shim lacks, or the "
                                  "project is incomplete; see bundle/dut/native/README.md")
        return done.stdout or ""

    def _cmd(self, cmd: list[str], what: str) -> None:
        done = self.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout or "").strip().splitlines()
            tail = "\n".join(lines[-15:])
            raise BuildError(f"{what} failed: {first_error(lines)}\n{tail}",
                             hint="the project's sources need a Zephyr API the shim lacks, or the "
                                  "project is incomplete; see bundle/dut/native/README.md")

    def _check_tools(self, target: Target) -> None:
        missing = [t for t in (target.cc, target.cxx) if shutil.which(t) is None]
        if missing:
            raise StageUnavailable(f"{', '.join(missing)} not installed (needed for the {target.name} DUT)",
                                   hint=f"make deps (apt-get install {target.package})")

    def _digest(self, target: Target, files: list[Path], includes: list[Path], flags,
                roots: dict[Path, str]) -> str:
        """Content, not location: the same project checked out elsewhere reuses its build."""
        def rel(path: Path) -> str:
            text = str(path.resolve())
            for root, name in roots.items():
                text = text.replace(str(root), name)
            return text

        h = hashlib.sha256()
        h.update(rel_flags(repr((target.name, target.cc, target.cxx, target.link_flags, flags)), roots).encode())
        h.update(self._compiler_version(target).encode())
        seen = {p.resolve() for p in files}
        for d in includes:   # headers: every file under the include dirs
            seen.update(p.resolve() for p in d.rglob("*") if p.is_file() and p.suffix in (".h", ".hpp", ".inc"))
        seen.add(NATIVE / "qemu_mps2_an386.ld")
        for path in sorted(seen, key=rel):
            h.update(rel(path).encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
        return h.hexdigest()[:24]

    def _compiler_version(self, target: Target) -> str:
        done = self.run([target.cc, "--version"], capture_output=True, text=True)
        return (done.stdout or "").splitlines()[0] if done.returncode == 0 and done.stdout else target.cc
