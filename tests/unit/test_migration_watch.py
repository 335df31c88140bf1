"""The helper thread that marks a long-running version (worker/migrations/watch.py)."""

from __future__ import annotations

import threading

import pytest

from worker.migrations.watch import Watch


def test_a_quick_block_is_never_marked() -> None:
    marked: list[str] = []
    watch = Watch(marked.append, after=60.0)
    for version in ("001", "002"):
        with watch.running(version):
            pass
    watch.close()
    assert marked == []


def test_a_block_past_the_deadline_is_marked_once_before_it_ends() -> None:
    marked: list[str] = []
    done = threading.Event()

    def mark(version: str) -> None:
        marked.append(version)
        done.set()

    watch = Watch(mark, after=0.0)
    with watch.running("001"):
        assert done.wait(10)
    with watch.running("002"):
        done.clear()
        assert done.wait(10)
    watch.close()
    assert marked == ["001", "002"]


def test_an_error_of_the_mark_is_raised_in_the_migrating_thread() -> None:
    tried = threading.Event()

    def mark(version: str) -> None:
        tried.set()
        raise RuntimeError(f"lease lost while marking {version}")

    watch = Watch(mark, after=0.0)
    with pytest.raises(RuntimeError, match="lease lost while marking 001"), watch.running("001"):
        assert tried.wait(10)
    watch.close()
