"""Places as data: which published system a labgrid place stands for, and who runs what."""
from __future__ import annotations

import threading

import pytest

from bundle.errors import ConfigError, UsageError
from bundle.lab.places import Place, Work, WorkQueue, place_system, plan_work

SYSTEMS = ["microtvm_cmsis_nn/NRF5340-DK", "microtvm_cmsis_nn/NUCLEO_L4R5ZI", "microtvm_native/NUCLEO_L4R5ZI"]
PREFERRED = "microtvm_native/NUCLEO_L4R5ZI"


def test_variant_tag_names_the_system():
    p = Place("p1", {"board": "NUCLEO_L4R5ZI", "variant": "microtvm_cmsis_nn"})
    assert place_system(p, SYSTEMS, PREFERRED) == "microtvm_cmsis_nn/NUCLEO_L4R5ZI"


def test_board_only_takes_the_preferred_system_of_that_board():
    assert place_system(Place("p", {"board": "NUCLEO_L4R5ZI"}), SYSTEMS, PREFERRED) == PREFERRED
    assert place_system(Place("p", {"board": "NRF5340-DK"}), SYSTEMS, PREFERRED) == "microtvm_cmsis_nn/NRF5340-DK"


@pytest.mark.parametrize("tags, needle", [
    ({}, "no board tag"),
    ({"board": "ESP32"}, "ran no published system"),
    ({"board": "NRF5340-DK", "variant": "microtvm_native"}, "no published system microtvm_native/NRF5340-DK"),
])
def test_bad_tags_are_config_errors_with_a_hint(tags, needle):
    with pytest.raises(ConfigError) as err:
        place_system(Place("p", tags), SYSTEMS, PREFERRED)
    assert needle in err.value.message and err.value.hint


def test_plan_covers_what_some_place_can_run_and_names_idle_places():
    places = [Place("a", {"board": "NUCLEO_L4R5ZI", "benchmark": "kws"}),
              Place("b", {"board": "NUCLEO_L4R5ZI", "benchmark": "vww"})]
    systems = {"a": PREFERRED, "b": PREFERRED}
    work, notes = plan_work(places, systems, ["kws", "ic"], ["accuracy", "performance"])
    assert work == [Work(PREFERRED, "kws", "accuracy"), Work(PREFERRED, "kws", "performance")]
    assert len(notes) == 1 and "place b" in notes[0]


def test_queue_spreads_items_over_places_and_never_hands_one_out_twice():
    a, b = Place("a", {"board": "X"}), Place("b", {"board": "X", "benchmark": "kws"})
    items = [Work("s", bench, "accuracy") for bench in ("kws", "ic", "kws", "vww")]
    queue = WorkQueue(items)
    assert queue.take(b, "s") == items[0]
    assert queue.take(b, "s") == items[2]
    assert queue.take(b, "s") is None          # b carries the kws firmware only
    assert queue.take(a, "other") is None      # a different system
    assert [queue.take(a, "s"), queue.take(a, "s"), queue.take(a, "s")] == [items[1], items[3], None]

    many = WorkQueue([Work("s", "kws", str(i)) for i in range(500)])
    got: list[Work] = []
    threads = [threading.Thread(target=lambda: got.extend(iter(lambda: many.take(b, "s"), None))) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(w.mode for w in got) == sorted(str(i) for i in range(500))


def test_reproduce_place_options(monkeypatch):
    import argparse

    from bundle.commands.reproduce import _places

    def args(**kw):
        return argparse.Namespace(**{"place": None, "coordinator": None, "port": None, **kw})

    monkeypatch.setenv("PLACES", "p1 p2 p1")
    assert _places(args(coordinator="lab:20408")) == ["p1", "p2"]
    assert _places(args(coordinator="c", place=["x y", "z"])) == ["x", "y", "z"]
    with pytest.raises(UsageError, match="coordinator"):
        _places(args())
    with pytest.raises(UsageError, match="--port"):
        _places(args(coordinator="c", port="/dev/ttyACM0"))
    monkeypatch.delenv("PLACES")
    assert _places(args()) == []
