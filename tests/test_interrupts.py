"""Ctrl-C is held back until the block says it can stop, and the usual handler comes back."""

import os
import signal
import threading

import pytest

from helpers.interrupts import deferred_interrupts


def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


def test_a_ctrl_c_waits_for_the_block_which_sees_it_pending_and_it_is_raised_at_the_end():
    before = signal.getsignal(signal.SIGINT)
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts() as pending:
            assert not pending()
            ctrl_c()
            reached.append(pending())  # the line after the signal still runs
    assert reached == [True]
    assert signal.getsignal(signal.SIGINT) is before


def test_a_second_ctrl_c_is_raised_at_once():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            ctrl_c()
            reached.append("first held")
            ctrl_c()
            reached.append("second held")
    assert reached == ["first held"]


def test_a_block_without_ctrl_c_ends_normally_and_restores_the_handler():
    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupts() as pending:
        assert signal.getsignal(signal.SIGINT) is not before
    assert not pending()
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


def test_an_ignored_ctrl_c_stays_ignored(monkeypatch):
    monkeypatch.setattr(signal, "getsignal", lambda signum: signal.SIG_IGN)
    installed = []
    monkeypatch.setattr(signal, "signal", lambda *args: installed.append(args))
    with deferred_interrupts() as pending:
        assert not pending()
    assert installed == []
