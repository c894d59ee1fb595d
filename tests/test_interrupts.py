"""Ctrl-C is held back until the block says it can stop, and the usual handler comes back."""

import signal
import threading

import pytest

from helpers.interrupts import NOTICE, deferred_interrupts


def ctrl_c():
    signal.raise_signal(signal.SIGINT)  # the handler runs before this returns


def test_a_ctrl_c_is_held_back_seen_as_pending_and_announced_on_stderr(capsys):
    before = signal.getsignal(signal.SIGINT)
    with deferred_interrupts() as pending:
        assert not pending()
        ctrl_c()
        assert pending()
        ctrl_c()  # a second press is held back too
        assert pending()
    assert capsys.readouterr().err == NOTICE  # once
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):  # the usual handler is back
        ctrl_c()


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
