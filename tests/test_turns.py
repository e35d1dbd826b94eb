"""Work places: a burst's heavy stretches run a few at a time, and nobody holds a place while a model works."""
from __future__ import annotations

import threading
import time

from app.tasks import turns
from app.tasks.turns import PlaceWhileCalling, Turns


def _run_all(count: int, body) -> None:
    threads = [threading.Thread(target=body) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)


class _Gauge:
    """How many are inside at once, at most."""

    def __init__(self):
        self.now = self.most = 0
        self._lock = threading.Lock()

    def __enter__(self):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *_exc):
        with self._lock:
            self.now -= 1


def test_no_more_heavy_stretches_run_at_once_than_there_are_places():
    line, heavy, done = Turns(places=2), _Gauge(), []

    def request():
        line.hold()
        with heavy:
            time.sleep(0.02)
        line.let_go()
        done.append(1)

    _run_all(8, request)
    assert heavy.most == 2 and len(done) == 8


def test_a_greenlet_holding_a_place_takes_no_second_one_and_lets_go_once():
    line = Turns(places=1)
    line.hold()
    line.hold()  # the intake's second step: still one place
    line.let_go()
    line.let_go()  # nothing left to give back: the semaphore stays at one place
    taken = []
    _run_all(2, lambda: taken.append(line._work.acquire(timeout=0.2)))
    assert sorted(taken) == [False, True]


def test_no_place_is_held_while_the_model_is_called(monkeypatch):
    """Hundreds of calls stay in flight at once: the place is let go before the call, taken again after."""
    monkeypatch.setattr(turns, "_turns", Turns(places=2))
    heavy, calling, observer = _Gauge(), _Gauge(), PlaceWhileCalling()

    def request():
        turns.hold()
        with heavy:
            time.sleep(0.005)  # route, admit, store
        observer.before(None)
        with calling:
            time.sleep(0.2)  # the model
        observer.after(None)
        with heavy:
            time.sleep(0.005)  # gates, the outcome
        turns.let_go()

    _run_all(20, request)
    assert calling.most == 20
    assert heavy.most <= 2


def test_a_place_not_had_in_time_is_not_waited_for_forever(monkeypatch):
    monkeypatch.setattr(turns, "PLACE_WAIT_SECONDS", 0.05)
    line = Turns(places=1)
    holder = threading.Thread(target=line.hold)
    holder.start()
    holder.join()  # that thread keeps its place
    started = time.monotonic()
    line.hold()
    assert time.monotonic() - started < 2
    line.let_go()  # held none: gives nothing back
    assert not line._work.acquire(timeout=0.01)


def test_a_provider_outage_waited_out_holds_no_place(monkeypatch):
    """A sync request waiting for its provider to come back lets other requests' intakes run meanwhile."""
    monkeypatch.setattr(turns, "_turns", Turns(places=1))
    waiting, other_done = threading.Event(), []

    def stuck_request():
        turns.hold()
        waiting.set()
        turns.pause_unheld(0.5)  # the cascade's wait for the provider
        turns.let_go()

    def new_arrival():
        waiting.wait(5)
        started = time.monotonic()
        turns.hold()
        other_done.append(time.monotonic() - started)
        turns.let_go()

    threads = [threading.Thread(target=stuck_request), threading.Thread(target=new_arrival)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert other_done and other_done[0] < 0.4


class _Timers:
    """The turns' timers (``time.sleep`` as the turns module calls it), counted."""

    def __init__(self, monkeypatch):
        self.count, sleep = 0, time.sleep

        def counted(seconds):
            self.count += 1
            sleep(seconds)

        monkeypatch.setattr(turns.time, "sleep", counted)


def test_a_request_alone_goes_on_without_a_timer(monkeypatch):
    """Nobody else at work or in line: no heavy stretch a newcomer could be behind, so no turn's timer."""
    line, timers = Turns(places=2), _Timers(monkeypatch)
    line.hold()
    line.wait_turn()  # the intake's step, still alone
    line.let_go()
    line.wait_turn()  # the outcome's write
    assert timers.count == 0


def test_a_request_beside_another_at_work_waits_its_turn(monkeypatch):
    line, timers = Turns(places=2), _Timers(monkeypatch)
    holder = threading.Thread(target=line.hold)
    holder.start()
    holder.join()  # another request in its heavy stretch (waiting on a commit, say)
    line.hold()
    assert timers.count == 1
    line.let_go()
    line.wait_turn()  # without a place of its own, still behind the other one's stretch
    assert timers.count == 2


def test_a_request_beside_another_sync_cascade_waits_its_turn_even_while_that_one_holds_no_place(monkeypatch):
    """A burst's model answers come back together: the others are about to run, not yet in line."""
    line, timers = Turns(places=2), _Timers(monkeypatch)
    waiting_on_model, answered = threading.Event(), threading.Event()

    def other_request():
        with line.at_work():
            waiting_on_model.set()  # holds no place while its model works
            answered.wait(5)

    other = threading.Thread(target=other_request)
    other.start()
    waiting_on_model.wait(5)
    line.wait_turn()
    answered.set()
    other.join(5)
    assert timers.count == 1
    line.wait_turn()  # the other one is done: alone again
    assert timers.count == 1
