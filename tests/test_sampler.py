"""The core viewport sampler: rate, trailing update, dedup and floods, on a fake clock; the worker
thread: it emits without a caller's help, never makes the caller wait, and sleeps when idle."""

from __future__ import annotations

import itertools
import threading
import time
import tracemalloc
from typing import Any

import pytest

from crowdcode_sdk.sampler import Sampler


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def recorder(clock: FakeClock) -> tuple[list[tuple[float, str, Any]], Any]:
    emitted: list[tuple[float, str, Any]] = []
    return emitted, lambda stream, value: emitted.append((clock.now, stream, value))


def test_at_most_the_rate_with_leading_and_trailing_updates() -> None:
    clock = FakeClock()
    emitted, emit = recorder(clock)
    sampler: Sampler[str] = Sampler(emit, rate_hz=10, clock=clock)
    # one update per millisecond for 1 s: a scroll held down
    for ms in range(1000):
        clock.now = 100.0 + ms / 1000
        sampler.offer("view", ms)
        sampler.run_due()
    clock.now = 101.5
    sampler.run_due()
    times = [t for t, _, _ in emitted]
    assert emitted[0] == (100.0, "view", 0), "the first update after a quiet time goes out at once"
    assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(times)), times
    assert 10 <= len(emitted) <= 11
    assert emitted[-1][2] == 999, "the last state of the burst is recorded"
    assert sampler.pending() == 0


def test_trailing_update_waits_for_the_interval_only() -> None:
    clock = FakeClock()
    emitted, emit = recorder(clock)
    sampler: Sampler[str] = Sampler(emit, rate_hz=10, clock=clock)
    sampler.offer("view", "a")
    assert sampler.run_due() is None
    clock.now += 0.01
    sampler.offer("view", "b")
    due = sampler.run_due()
    assert due == pytest.approx(100.1), "b is due one interval after a was emitted"
    assert [v for _, _, v in emitted] == ["a"]
    clock.now = due
    assert sampler.run_due() is None
    assert [v for _, _, v in emitted] == ["a", "b"]


def test_only_changes_are_emitted_and_streams_are_independent() -> None:
    clock = FakeClock()
    emitted, emit = recorder(clock)
    sampler: Sampler[str] = Sampler(emit, rate_hz=10, clock=clock)
    for value in ["x", "x", "y", "y", "y", "x"]:
        sampler.offer("view", value)
        sampler.offer("terminal", "screen")
        sampler.run_due()
        clock.now += 0.2
    assert [(s, v) for _, s, v in emitted] == [
        ("view", "x"),
        ("terminal", "screen"),
        ("view", "y"),
        ("view", "x"),
    ]
    assert sampler.stats("terminal") == {"offers": 6, "emissions": 1, "skipped": 0}


def test_forget_drops_pending_and_the_last_value() -> None:
    clock = FakeClock()
    emitted, emit = recorder(clock)
    sampler: Sampler[str] = Sampler(emit, rate_hz=10, clock=clock)
    sampler.offer("view", "secret")
    sampler.run_due()
    sampler.offer("view", "secret2")
    sampler.forget("view")
    clock.now += 1
    assert sampler.run_due() is None
    sampler.offer("view", "secret")
    sampler.run_due()
    assert [v for _, _, v in emitted] == ["secret", "secret"], "after forget the same state is new again"


def test_an_emit_that_fails_is_reported_and_sampling_goes_on() -> None:
    clock = FakeClock()
    problems: list[str] = []
    seen: list[Any] = []

    def emit(stream: str, value: Any) -> None:
        if value == "bad":
            raise RuntimeError("boom")
        seen.append(value)

    sampler: Sampler[str] = Sampler(emit, clock=clock, on_problem=problems.append)
    sampler.offer("view", "bad")
    sampler.run_due()
    clock.now += 1
    sampler.offer("view", "good")
    sampler.run_due()
    assert seen == ["good"]
    assert len(problems) == 1 and "boom" in problems[0]


def test_a_flood_is_bounded_in_emissions_and_memory() -> None:
    """100k updates within 2 s of fake time: about 20 emissions, and memory held by the sampler
    does not grow with the number of updates (one pending slot per stream)."""
    clock = FakeClock()
    count = 0

    def emit(stream: str, value: Any) -> None:
        nonlocal count
        count += 1

    sampler: Sampler[str] = Sampler(emit, rate_hz=10, clock=clock)
    tracemalloc.start()
    try:
        for i in range(100_000):
            clock.now = 100.0 + i * 2 / 100_000
            sampler.offer("terminal", ("screen", i))
            if i % 100 == 0:
                sampler.run_due()
            if i == 1000:
                baseline, _ = tracemalloc.get_traced_memory()
        clock.now += 1
        sampler.run_due()
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 20 <= count <= 22, count
    assert current - baseline < 64 * 1024, (baseline, current)
    stats = sampler.stats("terminal")
    assert stats["offers"] == 100_000 and stats["emissions"] == count
    assert stats["skipped"] == 100_000 - count


def test_the_worker_emits_alone_and_the_caller_never_waits() -> None:
    """A slow emit (the journal stuck on a slow disk) does not slow the producer: 100k offers
    made while an emission is blocked finish quickly, and only the latest one is then emitted."""
    release = threading.Event()
    started = threading.Event()
    emitted: list[Any] = []

    def emit(stream: str, value: Any) -> None:
        emitted.append(value)
        started.set()
        release.wait(10)

    sampler: Sampler[str] = Sampler(emit, rate_hz=10).start()
    try:
        sampler.offer("view", -1)
        assert started.wait(5), "the worker emits without a caller"
        begin = time.monotonic()
        for i in range(100_000):
            sampler.offer("view", i)
        offering = time.monotonic() - begin
        assert sampler.pending() == 1
        release.set()
        deadline = time.monotonic() + 5
        while emitted[-1] != 99_999 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        release.set()
        sampler.close()
    assert emitted == [-1, 99_999]
    # the emission blocked for the whole loop; the loop never waited for it
    assert offering < 5, offering


def test_the_worker_sleeps_when_idle_and_close_emits_the_last_state() -> None:
    clock = FakeClock()
    emitted: list[Any] = []
    sampler: Sampler[str] = Sampler(lambda s, v: emitted.append(v), clock=clock).start()
    try:
        sampler.offer("view", 1)
        deadline = time.monotonic() + 5
        while not emitted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert emitted == [1]
        time.sleep(0.05)  # let the worker settle into its idle wait
        reads = clock.reads
        time.sleep(0.3)
        assert clock.reads == reads, "an idle sampler does not read the clock"
        sampler.offer("view", 2)  # not due on the fake clock: pending until close
    finally:
        sampler.close()
    assert emitted == [1, 2]


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate_hz"):
        Sampler(lambda s, v: None, rate_hz=0)
