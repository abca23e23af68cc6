"""InstanceCache: orchestrators let go after the idle timeout, histories bounded by events, LRU first."""

from __future__ import annotations

from typing import Any

from taskhub.hub.tracking import HistoryLoad
from taskhub.model.app import App
from tests.builders import Driver
from worker.engine.history_index import HistoryIndex
from worker.engine.replay import Replay
from worker.pipeline.instance_cache import InstanceCache

app = App()


@app.orchestrator
def waits(ctx: Any, _: Any) -> Any:
    return (yield ctx.wait_for_external_event("go"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def waiting(instance_id: str) -> tuple[HistoryLoad, HistoryIndex, Replay]:
    episode = Driver(app, instance_id).start("waits")
    assert episode.session is not None
    return HistoryLoad(list(episode.history), "etag", "e1"), HistoryIndex(episode.history), episode.session


def test_an_idle_orchestrator_is_let_go_and_its_history_kept() -> None:
    clock = Clock()
    cache = InstanceCache(sessions=True, idle_timeout_s=30, clock=clock)
    cache.put("a", *waiting("a"))
    clock.now += 10
    cache.put("b", *waiting("b"))
    clock.now += 25  # a: idle 35 s, b: 25 s
    cache.put("c", *waiting("c"))  # every put lets the idle ones go

    a, b = cache.get("a"), cache.get("b")
    assert a is not None and a.session is None and a.history.etag == "etag"
    assert b is not None and b.session is not None

    clock.now += 31
    b = cache.get("b")  # idle 31 s since it was last used
    assert b is not None and b.session is None


def test_with_sessions_off_only_histories_are_kept() -> None:
    cache = InstanceCache(sessions=False, idle_timeout_s=30, clock=Clock())
    cache.put("a", *waiting("a"))
    a = cache.get("a")
    assert a is not None and a.session is None and len(a.history.events) > 0


def test_past_max_events_the_least_recently_used_go_first() -> None:
    size = len(waiting("a")[0].events)
    cache = InstanceCache(sessions=True, idle_timeout_s=30, max_events=3 * size, clock=Clock())
    for instance_id in ("a", "b", "c"):
        cache.put(instance_id, *waiting(instance_id))
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("d", *waiting("d"))

    assert cache.get("b") is None
    assert [cache.get(i) is not None for i in ("a", "c", "d")] == [True, True, True]
    assert cache.events == 3 * size and len(cache) == 3

    cache.forget(["a"])
    assert cache.get("a") is None and cache.events == 2 * size
    cache.forget()
    assert len(cache) == 0 and cache.events == 0
