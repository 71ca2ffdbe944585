"""Choose an engine by name: the factory, kept out of bundle/engine/base.py so that the
interface does not import its implementations (docker.py, remote.py and local.py import base)."""
from __future__ import annotations

from bundle.engine.base import Engine
from bundle.errors import ConfigError

ENGINES = ("docker", "docker-remote", "local")


def get_engine(name: str = "auto", **kwargs) -> Engine:
    """Engine by name; "auto" picks docker when its daemon answers, else local."""
    if name == "auto":
        docker_engine = get_engine("docker", **kwargs)
        return docker_engine if docker_engine.available()[0] else get_engine("local")
    if name in ("docker", "docker-remote"):
        from bundle.engine.docker import DockerEngine
        from bundle.engine.remote import RemoteDockerEngine, engine_is_remote

        # DOCKER_HOST=ssh://... or tcp://... (or such a docker context) cannot see this host's paths
        remote = name == "docker-remote" or engine_is_remote()
        return RemoteDockerEngine(**kwargs) if remote else DockerEngine(**kwargs)
    if name == "local":
        from bundle.engine.local import LocalEngine

        return LocalEngine()
    raise ConfigError(f"unknown engine {name!r}", hint=f"use one of: auto, {', '.join(ENGINES)}")
