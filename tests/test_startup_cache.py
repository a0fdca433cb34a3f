"""The start-up cache: traced encoder and transformers' arrays, same outputs, no transformers import."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from sound2sheet import startup_cache
from sound2sheet.model import Sound2SheetModel


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(startup_cache.ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _checkpoint(trained):
    _, data, _ = trained
    return data.parent / "ckpt" / "best_model.pt"


def test_traced_encoder_gives_the_same_outputs_and_weights_come_from_the_checkpoint(trained, cache):
    checkpoint = _checkpoint(trained)
    eager = Sound2SheetModel.from_pretrained(checkpoint)
    first = Sound2SheetModel.from_pretrained(checkpoint, fast_start=True)  # a miss: traces into the cache
    assert not first.encoder.traced and len(list(cache.glob("ast-*.pt"))) == 1
    fast = Sound2SheetModel.from_pretrained(checkpoint, fast_start=True)
    assert fast.encoder.traced and not eager.encoder.traced
    assert fast.encoder.encoder_config() == eager.encoder.encoder_config()
    mel = torch.randn(1, eager.config.n_features, 1400)  # longer than the 512-frame window: 3 windows
    a, b = eager.probabilities(mel), fast.probabilities(mel)
    for head in a:
        np.testing.assert_allclose(a[head], b[head], atol=1e-6)
    # The cached graph was traced from a randomly initialised encoder: the outputs above are the
    # checkpoint's only if its weights were loaded into the graph.
    fresh = Sound2SheetModel(eager.config, encoder_config=eager.encoder.encoder_config())
    assert not np.allclose(fresh.eval().probabilities(mel)["frame"], a["frame"], atol=1e-3)


def test_a_fast_started_model_refuses_to_train(trained, cache):
    checkpoint = _checkpoint(trained)
    Sound2SheetModel.from_pretrained(checkpoint, fast_start=True)
    fast = Sound2SheetModel.from_pretrained(checkpoint, fast_start=True)
    with pytest.raises(RuntimeError, match="cannot train"):
        fast.train()


WARM = """
import sys
from sound2sheet.inference import Transcriber, load_model
notes = Transcriber(load_model(sys.argv[1], fast_start=sys.argv[3] == "fast")).transcribe_file(sys.argv[2]).notes
print("transformers imported:", "transformers" in sys.modules)
print([(n.pitch, round(n.onset, 3), round(n.offset, 3)) for n in notes])
"""


def test_a_warm_cache_transcribes_without_importing_transformers(trained, cache):
    _, data, _ = trained
    checkpoint, audio = _checkpoint(trained), next(data.glob("**/short*.flac"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))

    def run(mode):
        out = subprocess.run([sys.executable, "-c", WARM, str(checkpoint), str(audio), mode], capture_output=True,
                             text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout.splitlines(), out.stderr

    (cold, traced_err), (warm, _), (eager, _) = run("fast"), run("fast"), run("eager")
    assert cold[0].endswith("True") and warm[0].endswith("False") and eager[0].endswith("True")
    assert warm[1] == cold[1] == eager[1] and warm[1] != "[]"
    # Tracing reads every attribute of transformers' model, which made it log a loss warning
    # on a user's first run: the trace says nothing.
    assert traced_err == "", traced_err[-2000:]


def test_a_damaged_cache_file_is_rebuilt_and_off_writes_nothing(trained, cache, monkeypatch, caplog):
    checkpoint = _checkpoint(trained)
    Sound2SheetModel.from_pretrained(checkpoint, fast_start=True)
    (path,) = cache.glob("ast-*.pt")
    path.write_bytes(b"not a torchscript archive")
    with caplog.at_level(logging.WARNING, logger="sound2sheet.startup_cache"):
        model = Sound2SheetModel.from_pretrained(checkpoint, fast_start=True)
    assert not model.encoder.traced and "unreadable encoder cache" in caplog.text
    assert Sound2SheetModel.from_pretrained(checkpoint, fast_start=True).encoder.traced  # rewritten whole

    off = cache.parent / "off"
    monkeypatch.setenv(startup_cache.ENV, "off")
    assert startup_cache.cache_dir() is None
    assert not Sound2SheetModel.from_pretrained(checkpoint, fast_start=True).encoder.traced
    assert not off.exists()


def test_cached_array_builds_once_and_survives_damage(cache, caplog):
    calls = []

    def build():
        calls.append(1)
        return np.arange(6.0).reshape(2, 3)

    first = startup_cache.cached_array("demo", {"n": 6}, build)
    second = startup_cache.cached_array("demo", {"n": 6}, build)
    np.testing.assert_array_equal(first, second)
    assert len(calls) == 1  # the second came from disk
    startup_cache.cached_array("demo", {"n": 7}, build)
    assert len(calls) == 2  # another key, another entry
    for path in cache.glob("demo-*.npy"):
        path.write_bytes(b"\x00garbage")
    with caplog.at_level(logging.WARNING, logger="sound2sheet.startup_cache"):
        np.testing.assert_array_equal(startup_cache.cached_array("demo", {"n": 6}, build), first)
    assert len(calls) == 3 and "unreadable cache file" in caplog.text


def test_fbank_from_the_cache_equals_transformers_own(cache, monkeypatch):
    from sound2sheet.core.features import KaldiFbank

    audio = torch.from_numpy(np.random.default_rng(0).standard_normal(16000).astype(np.float32))
    monkeypatch.setenv(startup_cache.ENV, "off")
    direct = KaldiFbank()(audio)
    monkeypatch.setenv(startup_cache.ENV, str(cache))
    KaldiFbank()  # fills the cache
    assert len(list(cache.glob("kaldi-mel-*.npy"))) == 1 and len(list(cache.glob("hann-*.npy"))) == 1
    torch.testing.assert_close(KaldiFbank()(audio), direct, rtol=0, atol=0)
