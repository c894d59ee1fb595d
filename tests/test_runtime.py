import random

import matplotlib as mpl
import numpy as np
import pytest
import tensorflow as tf

from helpers import distribution_strategy, setup
from helpers import runtime


def test_setup_seeds_every_generator_and_reports_versions(capsys):
    setup(seed=3)
    report = capsys.readouterr().out.splitlines()[0]
    first = (random.random(), np.random.rand(), float(tf.random.uniform(())))
    setup(seed=3)
    second = (random.random(), np.random.rand(), float(tf.random.uniform(())))
    assert first == second
    assert report.startswith(f"TensorFlow {tf.__version__} · Keras 3.")
    assert report.endswith("· CPU")
    assert mpl.rcParams["axes.grid"] is True


@pytest.mark.parametrize("seed", [-1, 1.5, "42", True, None])
def test_setup_rejects_a_bad_seed(seed):
    with pytest.raises(ValueError, match=r"`seed` must be a non-negative integer. Received: seed="):
        setup(seed=seed)


@pytest.fixture(autouse=True)
def fresh_strategy_cache():
    # distribution_strategy() remembers its strategy: start and end each test without one.
    distribution_strategy.cache_clear()
    yield
    distribution_strategy.cache_clear()


def test_default_strategy_on_a_single_device():
    strategy = distribution_strategy()
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


def test_mirrored_strategy_when_there_are_several_accelerators(monkeypatch):
    cpus = tf.config.list_logical_devices("CPU")  # two, see conftest.py: stand-ins for two GPUs
    assert len(cpus) == 2
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: cpus if kind == "GPU" else [])
    strategy = distribution_strategy()
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 2
    assert distribution_strategy() is strategy  # a second MirroredStrategy could clash with the first


@pytest.mark.parametrize(("variable", "value", "expected"), [("TPU_NAME", "local", True), ("COLAB_TPU_ADDR", "", False)])
def test_tpu_runtime_detection(monkeypatch, variable, value, expected):
    for name in ("TPU_NAME", "COLAB_TPU_ADDR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, value)
    monkeypatch.setattr(runtime.os.path, "exists", lambda path: False)
    assert runtime._on_tpu_runtime() is expected
