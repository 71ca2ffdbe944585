# syntax=docker/dockerfile:1
# tinyrepro images, one target per pipeline image:
#   runner  Python 3.11 + the bundle: the run and report stages (talks to the DUT over serial)
#   tvm-builder  what building TVM needs; the `tvm` image (TVM built from source at the published
#           SHA: microTVM, CMSIS-NN, LLVM; the compile stage) is this plus the build's output,
#           made by bundle/toolchain/tvm_image.py (a resumable build in a container)
#   zephyr  Zephyr v2.7.3 + SDK 0.13.2 + CMSIS at the published SHA + openocd: firmware, flash
#
# Everything is pinned: base images by digest, sources by commit SHA, downloads by SHA-256.
# Written for the classic builder too (Docker 20.10 without BuildKit): no ADD --checksum, no
# RUN --mount; downloads are checked with sha256sum -c instead.
#
# Build arguments
#   BASE_IMAGE          base of the runner (any Debian bookworm with python3 3.11, or the
#                       image made by scripts/bootstrap-base-image.sh when no registry is reachable)
#   TOOLCHAIN_BASE_IMAGE  base of tvm and zephyr (Python 3.8 era of TVM e3a6cb6a / Zephyr 2.7)
#   PIP_INDEX_URL       PyPI mirror; APT_MIRROR  Debian mirror (e.g. http://mirror.example/debian)
#   HTTP_PROXY/HTTPS_PROXY/NO_PROXY are Docker's predefined build args: passed through as-is.
# Stage order matters for the classic builder, which builds every stage before --target:
# runner comes first so it never waits for the toolchains.

# Found pinned in public Dockerfiles; the orchestrator passes the values from artifacts/lock.yaml.
# An empty BASE_IMAGE (compose passes unset args as empty) falls back to the pinned default.
ARG DEFAULT_BASE_IMAGE=debian:bookworm-slim@sha256:b55e2651b71408015f8068dd74e1d04404a8fa607dd2cfe284b4824c11f4d9bd
ARG DEFAULT_TOOLCHAIN_BASE_IMAGE=python:3.8-slim-bullseye@sha256:e191a71397fd61fbddb6712cd43ef9a2c17df0b5e7ba67607128554cd6bff267
ARG BASE_IMAGE
ARG TOOLCHAIN_BASE_IMAGE

############################################################################ runner
FROM ${BASE_IMAGE:-${DEFAULT_BASE_IMAGE}} AS runner
ARG APT_MIRROR
ARG PIP_INDEX_URL
ENV LANG=C.UTF-8 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# A stock debian:bookworm-slim has no Python; the bootstrapped base already carries it, so
# apt only runs (and only needs the network) when something is missing.
RUN set -eu; \
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null || [ ! -f /etc/ssl/certs/ca-certificates.crt ]; then \
      if [ -n "${APT_MIRROR:-}" ]; then \
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/debian.sources; do \
          [ -f "$f" ] && sed -i "s#http://deb.debian.org/debian#${APT_MIRROR}#g" "$f"; done; \
      fi; \
      apt-get update; \
      apt-get install -y --no-install-recommends python3 python3-venv ca-certificates; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    python3 -c 'import sys; v = sys.version_info[:2]; assert v == (3, 11), f"runner needs Python 3.11, base has {v}"'
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements-runner.lock /src/requirements-runner.lock
RUN pip install ${PIP_INDEX_URL:+--index-url "$PIP_INDEX_URL"} -r /src/requirements-runner.lock
COPY pyproject.toml /src/pyproject.toml
COPY bundle /src/bundle
# The lock travels with the image: the fetch layer verifies the mounted cache against it.
COPY artifacts/lock.yaml /src/artifacts/lock.yaml
ENV TINYREPRO_LOCK=/src/artifacts/lock.yaml
RUN pip install ${PIP_INDEX_URL:+--index-url "$PIP_INDEX_URL"} --no-deps /src \
    && python -m bundle --version
# A default non-root user; the orchestrator runs stages as the host uid:gid instead.
RUN useradd --create-home --uid 1000 --user-group tinyrepro
USER 1000:1000
WORKDIR /work
CMD ["python", "-m", "bundle", "--help"]

############################################################################ toolchain-base
# Shared by tvm-builder and zephyr: the 2022 toolchains predate Python 3.11. The pinned default
# is Python 3.8 on Debian bullseye; a bootstrapped bullseye base (python3 3.9, python3-venv) is
# the same Debian release. Both get one venv, so `python`/`pip` mean the same on either base.
FROM ${TOOLCHAIN_BASE_IMAGE:-${DEFAULT_TOOLCHAIN_BASE_IMAGE}} AS toolchain-base
ARG APT_MIRROR
ENV LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN set -eu; \
    if [ -n "${APT_MIRROR:-}" ]; then sed -i "s#http://deb.debian.org/debian#${APT_MIRROR}#g" /etc/apt/sources.list; fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
      build-essential ca-certificates curl git ninja-build xz-utils file \
      device-tree-compiler gperf ccache dfu-util wget; \
    rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv && /opt/venv/bin/python -c 'import sys; assert sys.version_info[:2] in ((3, 8), (3, 9)), sys.version'
ENV PATH=/opt/venv/bin:$PATH

############################################################################ tvm-builder
# What building TVM needs, without TVM: its sources come from the fetch layer (TVM and its
# submodules by commit, see artifacts/lock.yaml toolchain.tvm) and are built by
# bundle/toolchain/tvm_image.py in a container of this image, into a build folder that
# survives interruptions; the `tvm` image is this one plus the built library and TVM's Python
# package. Before zephyr: the classic builder builds every stage up to --target.
FROM toolchain-base AS tvm-builder
ARG PIP_INDEX_URL
# LLVM: relay's FoldConstant evaluates constant subgraphs on the `llvm` CPU target
# (src/relay/transforms/fold_constant.cc in apache/tvm@e3a6cb6a), so the compiler needs it even
# though the generated model code is C. Debian bullseye's LLVM 11.
ARG LLVM_VERSION=11
RUN set -eu; apt-get update; \
    apt-get install -y --no-install-recommends llvm-${LLVM_VERSION}-dev libtinfo-dev zlib1g-dev libedit-dev libxml2-dev cmake; \
    rm -rf /var/lib/apt/lists/*
# Python dependencies of TVM in 2022, each pinned (tflite: the TFLite frontend's flatbuffer reader).
COPY requirements-tvm.lock /opt/tinyrepro/requirements-tvm.lock
RUN pip install ${PIP_INDEX_URL:+--index-url "$PIP_INDEX_URL"} -r /opt/tinyrepro/requirements-tvm.lock && pip check
RUN useradd --create-home --uid 1000 --user-group tinyrepro
WORKDIR /work

############################################################################ zephyr
FROM toolchain-base AS zephyr
ARG PIP_INDEX_URL
ARG ZEPHYR_VERSION=v2.7.3
# Commit of the v2.7.3 tag ("release: Zephyr 2.7.3"), so a moved tag cannot change the build;
# provenance in artifacts/lock.yaml (toolchain.zephyr.commit), which the orchestrator passes.
ARG ZEPHYR_SHA=003de78ce0dd213a1c7b3d159b967fb19a12aa45
ARG ZEPHYR_SDK_VERSION=0.13.2
# SHA-256 of zephyr-sdk-0.13.2-linux-x86_64-setup.run; provenance in artifacts/lock.yaml
# (toolchain.zephyr_sdk.sha256). sdk-ng published no checksum file for 0.13.2.
ARG ZEPHYR_SDK_SHA256=334dd3bfb3ca69659b381ae2012a2188a414a6c86dec75e3eec3b0b33e11ac1e
ARG CMSIS_SHA=51263182d16c92649a48144ba56c0945f9fce60e
RUN set -eu; \
    case "${ZEPHYR_SHA}${ZEPHYR_SDK_SHA256}" in *UNSET_*) \
      echo "error: zephyr target needs pinned values: pass --build-arg ZEPHYR_SHA=<40-hex commit of ${ZEPHYR_VERSION}>" \
           "and --build-arg ZEPHYR_SDK_SHA256=<sha256 of the SDK ${ZEPHYR_SDK_VERSION} installer>" \
           "(or set them in artifacts/lock.yaml, toolchain:)" >&2; exit 1;; esac
RUN set -eu; apt-get update; \
    apt-get install -y --no-install-recommends openocd bzip2; \
    rm -rf /var/lib/apt/lists/*
# cmake >= 3.20 is required by Zephyr 2.7; bullseye has 3.18.
RUN pip install ${PIP_INDEX_URL:+--index-url "$PIP_INDEX_URL"} west==0.12.0 cmake==3.22.2
RUN set -eu; cd /tmp; \
    f="zephyr-sdk-${ZEPHYR_SDK_VERSION}-linux-x86_64-setup.run"; \
    curl -fsSLo "$f" "https://github.com/zephyrproject-rtos/sdk-ng/releases/download/v${ZEPHYR_SDK_VERSION}/$f"; \
    echo "${ZEPHYR_SDK_SHA256}  $f" | sha256sum -c -; \
    sh "$f" --quiet -- -d "/opt/zephyr-sdk-${ZEPHYR_SDK_VERSION}"; \
    rm -f "$f"
# west update checks every module out at the revision west.yml pins for that Zephyr commit.
RUN set -eu; \
    git init -q /opt/zephyrproject/zephyr; cd /opt/zephyrproject/zephyr; \
    git remote add origin https://github.com/zephyrproject-rtos/zephyr.git; \
    git fetch -q origin "${ZEPHYR_SHA}"; git checkout -q FETCH_HEAD; \
    test "$(git rev-parse HEAD)" = "${ZEPHYR_SHA}"; \
    cd /opt/zephyrproject; west init -l zephyr; west update --narrow -o=--depth=1; \
    pip install ${PIP_INDEX_URL:+--index-url "$PIP_INDEX_URL"} -r zephyr/scripts/requirements-base.txt
RUN set -eu; \
    git init -q /opt/cmsis; cd /opt/cmsis; \
    git remote add origin https://github.com/ARM-software/CMSIS_5.git; \
    git fetch -q --depth 1 origin "${CMSIS_SHA}"; git checkout -q FETCH_HEAD; \
    test "$(git rev-parse HEAD)" = "${CMSIS_SHA}"
# Flashing: openocd (ST-LINK on the NUCLEO board, `west flash --runner openocd`). The nRF5340-DK
# needs nrfjprog (`west flash --runner nrfjprog --recover`), which with J-Link is proprietary
# (SEGGER/Nordic licence click-through): not installed here; `tinyrepro plan` says so.
ENV ZEPHYR_BASE=/opt/zephyrproject/zephyr ZEPHYR_TOOLCHAIN_VARIANT=zephyr \
    ZEPHYR_SDK_INSTALL_DIR=/opt/zephyr-sdk-${ZEPHYR_SDK_VERSION} CMSIS_PATH=/opt/cmsis
# The reproducible double build (bundle/toolchain/zephyr_build.py): standalone, Python 3.8.
COPY bundle/toolchain/zephyr_build.py /opt/tinyrepro/zephyr_build.py
RUN useradd --create-home --uid 1000 --user-group tinyrepro
USER 1000:1000
WORKDIR /work
