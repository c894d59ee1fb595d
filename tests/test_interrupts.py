"""Ctrl-C is held back until the block says it can stop, and the usual handler comes back."""

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers.interrupts import FORCE_AFTER, NOTICE, deferred_interrupts


def ctrl_c():
    signal.raise_signal(signal.SIGINT)  # the handler runs before this returns


def test_a_ctrl_c_is_held_back_seen_as_pending_and_announced_on_stderr(capsys):
    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupts() as pending:
        assert not pending()
        for _ in range(FORCE_AFTER - 1):
            ctrl_c()
            assert pending()
    assert capsys.readouterr().err == NOTICE  # once
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):  # the usual handler is back
        ctrl_c()


def test_the_last_press_allowed_raises_at_once_and_restores_the_handler():
    before = signal.getsignal(signal.SIGINT)
    held = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            for press in range(1, FORCE_AFTER + 1):
                ctrl_c()
                held.append(press)
    assert held == list(range(1, FORCE_AFTER))
    assert signal.getsignal(signal.SIGINT) is before


def test_a_notice_that_cannot_be_written_still_counts_the_press(monkeypatch):
    class Closed:
        def write(self, text):
            raise ValueError("I/O operation on closed file")

    monkeypatch.setattr("sys.stderr", Closed())
    with deferred_interrupts() as pending:
        ctrl_c()
        assert pending()


def test_a_block_without_ctrl_c_leaves_nothing_pending_and_restores_the_handler():
    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupts() as pending:
        assert signal.getsignal(signal.SIGINT) is not before
    assert not pending()
    assert signal.getsignal(signal.SIGINT) is before


def test_an_error_in_the_block_goes_through_and_restores_the_handler():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(FloatingPointError):
        with deferred_interrupts():
            ctrl_c()
            raise FloatingPointError("a NaN")
    assert signal.getsignal(signal.SIGINT) is before


def test_outside_the_main_thread_nothing_is_held_back():
    seen = []

    def in_a_thread():
        with deferred_interrupts() as pending:  # signal.signal would raise ValueError here
            seen.append((pending(), signal.getsignal(signal.SIGINT)))

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert seen == [(False, signal.getsignal(signal.SIGINT))]


@pytest.mark.parametrize("handler", [signal.SIG_IGN, signal.SIG_DFL, None], ids=["ignored", "default", "not-python"])
def test_a_ctrl_c_not_handled_by_python_is_left_alone(handler, monkeypatch):
    monkeypatch.setattr(signal, "getsignal", lambda signum: handler)
    installed = []
    monkeypatch.setattr(signal, "signal", lambda *args: installed.append(args))
    with deferred_interrupts() as pending:
        assert not pending()
    assert installed == []


def test_ctrl_c_tests_pass_when_pytest_starts_with_sigint_ignored():
    # A runner started in the background inherits SIGINT ignored; conftest.py gives it Python's handler.
    def ignore_sigint():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    root = Path(__file__).resolve().parents[1]
    test = "tests/test_interrupts.py::test_a_ctrl_c_is_held_back_seen_as_pending_and_announced_on_stderr"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-o", "addopts=-p no:cacheprovider", test],
                         cwd=root, capture_output=True, text=True, preexec_fn=ignore_sigint, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
