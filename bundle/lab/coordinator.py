"""The labgrid client side: places from a labgrid coordinator, acquired and released.

Uses labgrid's own client session (`labgrid.remote.client.ClientSession`, gRPC); labgrid is
the optional extra `lab` (pip install 'tinyrepro[lab]'). Every call runs on this object's
event loop, from the thread that made it. A place's serial port is a labgrid
`NetworkSerialPort`: the exporter serves the board's tty with ser2net in RFC 2217 mode once
the place is acquired. ser2net does not answer RFC 2217 SET_CONTROL requests, so the URL
carries pyserial's `ign_set_control` option, as labgrid's own SerialDriver does
(labgrid/driver/serialdriver.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

from bundle.errors import ConfigError, DutError
from bundle.lab.places import Place
from bundle.signals import sigterm_as_interrupt

log = logging.getLogger(__name__)

DEFAULT_PORT = 20408             # labgrid-coordinator's default
SERIAL_CLASS = "NetworkSerialPort"


class PlaceError(DutError):
    """A labgrid place could not be listed, acquired or used (exit 6, like any DUT failure)."""


def _labgrid():
    try:
        from labgrid.remote import client
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb
    except ImportError:
        raise ConfigError("labgrid is not installed", hint="pip install 'tinyrepro[lab]' (make venv installs it)") from None
    return client, pb


class Coordinator:
    """One client session with a labgrid coordinator at HOST[:PORT]. One at a time per process:
    grpc shares the connection between channels, and the coordinator refuses a second client
    stream from the same peer (labgrid/remote/coordinator.py, `assert peer not in self.clients`)."""

    def __init__(self, address: str, timeout_s: float = 10.0):
        client, self._pb = _labgrid()
        self.address = address if ":" in address else f"{address}:{DEFAULT_PORT}"
        # One loop per thread, shared by every session (labgrid's own helper): grpc.aio serves
        # one loop at a time, and binds a channel to the current loop.
        self.loop = client.ensure_event_loop()
        self.session = client.ClientSession(address=self.address, loop=self.loop)
        try:
            self._call(asyncio.wait_for(self.session.start(), timeout_s))
        except Exception as err:  # noqa: BLE001 - grpc, timeouts and labgrid's own errors alike
            self.close()
            raise PlaceError(f"labgrid coordinator {self.address} not reachable: {type(err).__name__}: {err}",
                             hint="start labgrid-coordinator there, or check --coordinator / LG_COORDINATOR") from None

    def _call(self, coro):
        asyncio.set_event_loop(self.loop)
        return self.loop.run_until_complete(coro)

    def sync(self) -> None:
        self._call(self.session.sync_with_coordinator())

    # -- places ------------------------------------------------------------------------
    def places(self) -> dict[str, Place]:
        self.sync()
        return {name: self._place(p) for name, p in self.session.places.items()}

    def _place(self, p) -> Place:
        classes = []
        for exporter, groups in self.session.resources.items():
            for group_name, group in groups.items():
                for resource_name, res in group.items():
                    if p.getmatch((exporter, group_name, res.cls, resource_name)):
                        classes.append(res.cls)
        return Place(p.name, dict(p.tags), tuple(sorted(classes)))

    def acquired_by(self, name: str) -> str | None:
        self.sync()
        place = self.session.places.get(name)
        return place.acquired if place else None

    def acquire(self, name: str) -> Place:
        known = self.places()
        if name not in known:
            raise PlaceError(f"no place {name!r} on coordinator {self.address}",
                             hint=f"places there: {', '.join(sorted(known)) or 'none'} (labgrid-client places)")
        self._rpc("acquire", name, self.session.stub.AcquirePlace(self._pb.AcquirePlaceRequest(placename=name)))
        return known[name]

    def create_place(self, name: str, match: str, tags: dict[str, str]) -> None:
        """What `labgrid-client -p NAME create; add-match MATCH; set-tags K=V...` does."""
        pb, stub = self._pb, self.session.stub
        self._rpc("create", name, stub.AddPlace(pb.AddPlaceRequest(name=name)))
        self._rpc("match resources to", name, stub.AddPlaceMatch(pb.AddPlaceMatchRequest(placename=name, pattern=match)))
        self._rpc("tag", name, stub.SetPlaceTags(pb.SetPlaceTagsRequest(placename=name, tags=tags)))

    def release(self, name: str) -> None:
        self._rpc("release", name, self.session.stub.ReleasePlace(self._pb.ReleasePlaceRequest(placename=name)))

    def _rpc(self, what: str, name: str, call) -> None:
        try:
            self._call(call)
        except Exception as err:  # noqa: BLE001 - grpc.aio.AioRpcError carries the coordinator's reason
            details = err.details() if hasattr(err, "details") else str(err)
            raise PlaceError(f"cannot {what} place {name}: {details}",
                             hint=f"labgrid-client -x {self.address} who  (who holds which place)") from None
        self.sync()

    def serial_url(self, name: str, timeout_s: float = 10.0) -> str:
        """The acquired place's serial port as a pyserial URL, once its exporter serves it."""
        deadline = time.monotonic() + timeout_s
        while True:
            ports = self._serial_ports(name)
            ready = [r for r in ports if r.avail and r.params.get("port")]
            if len(ports) > 1:
                raise PlaceError(f"place {name} has {len(ports)} serial ports", hint="match exactly one NetworkSerialPort")
            if ready:
                p = ready[0].params
                return f"rfc2217://{p['host']}:{p['port']}?ign_set_control"
            if time.monotonic() > deadline:
                raise PlaceError(f"place {name}: no serial port served within {timeout_s:g} s",
                                 hint="is its exporter running, and is ser2net installed on that host?")
            time.sleep(0.2)

    def _serial_ports(self, name: str) -> list:
        self.sync()
        place = self.session.places[name]
        try:
            resources = self.session.get_target_resources(place)
        except Exception as err:  # noqa: BLE001 - labgrid's ServerError: an exporter went away
            raise PlaceError(f"place {name}: {err}", hint="check the place's exporter") from None
        return [r for (_, cls), r in resources.items() if cls == SERIAL_CLASS]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self.session.stop())
        with contextlib.suppress(Exception):
            self._call(self.session.close())


@contextlib.contextmanager
def acquired(coordinator: Coordinator, names: list[str]) -> Iterator[dict[str, Place]]:
    """Acquire every place or none; release all of them on exit, error or interrupt (Ctrl-C,
    and SIGTERM, which a CI cancel sends, unwinds like Ctrl-C while places are held)."""
    held: dict[str, Place] = {}
    with sigterm_as_interrupt():
        try:
            for name in names:
                held[name] = coordinator.acquire(name)
            yield held
        finally:
            for name in held:
                try:
                    coordinator.release(name)
                except PlaceError as err:   # keep releasing the others; say which one is still held
                    log.warning("%s (%s)", err.message, err.hint)
