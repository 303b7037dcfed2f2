"""The local platform's supervisor: restarts with back-off, resets after a healthy minute,
keeps a planned outage down, and says what it does in one line each."""

from __future__ import annotations

from photochanger_devstack.supervisor import Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Process:
    def __init__(self) -> None:
        self.running = True
        self.starts = 0
        self.fail_next = 0

    def alive(self) -> bool:
        return self.running

    def restart(self) -> None:
        self.starts += 1
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("port in use")
        self.running = True


def supervised() -> tuple[Supervisor, Process, Clock, list[str]]:
    lines: list[str] = []
    clock = Clock()
    supervisor = Supervisor(lines.append, clock=clock)
    process = Process()
    supervisor.watch("provider-gemini", process.alive, process.restart)
    return supervisor, process, clock, lines


def test_a_process_that_exits_is_restarted_after_a_second_and_others_are_left_alone() -> None:
    supervisor, process, clock, lines = supervised()
    other = Process()
    supervisor.watch("api", other.alive, other.restart)
    process.running = False

    assert supervisor.check() == []  # noticed, not yet due
    clock.now += 0.5
    assert supervisor.check() == []
    clock.now += 0.5
    assert supervisor.check() == ["provider-gemini"]
    assert process.running and process.starts == 1 and other.starts == 0
    assert lines == [
        "provider-gemini exited; restarting in 1 s",
        "provider-gemini restarted after 1.0 s (restart 1)",
    ]


def test_back_off_doubles_up_to_thirty_seconds_and_resets_after_a_healthy_minute() -> None:
    supervisor, process, clock, _ = supervised()
    waits = []
    for _ in range(7):
        process.running = False
        supervisor.check()
        started = clock.now
        while not supervisor.check():
            clock.now += 0.5
        waits.append(clock.now - started)
    assert waits == [1, 2, 4, 8, 16, 30, 30]

    clock.now += 60
    supervisor.check()  # healthy for a minute
    process.running = False
    supervisor.check()
    clock.now += 1
    assert supervisor.check() == ["provider-gemini"]


def test_a_failed_start_is_tried_again_later() -> None:
    supervisor, process, clock, lines = supervised()
    process.running, process.fail_next = False, 1
    supervisor.check()
    clock.now += 1
    assert supervisor.check() == ["provider-gemini"]  # tried, failed
    assert not process.running and "did not start (port in use); next try in 2 s" in lines[-1]
    clock.now += 1.5
    supervisor.check()
    assert not process.running
    clock.now += 0.5
    supervisor.check()
    assert process.running and process.starts == 2


def test_a_planned_outage_stays_down_until_resumed() -> None:
    supervisor, process, clock, _ = supervised()
    supervisor.pause("provider-gemini")
    process.running = False
    clock.now += 60
    assert supervisor.check() == []
    supervisor.resume("provider-gemini")
    assert supervisor.check() == ["provider-gemini"]
    assert process.running
