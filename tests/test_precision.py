"""The model's float type: bf16 only where the hardware has it, chosen once for training and inference."""

import json

import numpy as np
import pytest
import torch

from sound2sheet.cli import main as cli_main
from sound2sheet.core import AudioProcessor
from sound2sheet.errors import ConfigError
from sound2sheet.inference import Transcriber
from sound2sheet.model import InferenceConfig
from sound2sheet.model import precision as prec


@pytest.mark.parametrize("native", [True, False])
def test_auto_takes_bf16_only_where_the_cpu_has_it(monkeypatch, native):
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: native)
    assert prec.inference_dtype("auto", "cpu") == (torch.bfloat16 if native else None)
    assert prec.inference_dtype("fp32", "cpu") is None
    assert prec.inference_dtype("bf16", "cpu") == torch.bfloat16  # forced, even where emulated
    assert prec.inference_dtype("auto", "meta") is None  # no autocast elsewhere


def test_bad_precision_is_refused():
    with pytest.raises(ConfigError, match="precision must be"):
        InferenceConfig(precision="fp16")
    with pytest.raises(ValueError, match="precision must be"):
        prec.inference_dtype("half", "cpu")


def test_bf16_moves_probabilities_a_little_and_fp32_not_at_all(trained):
    model, data, _ = trained
    proc = AudioProcessor.from_config(model.data_config)
    mel = proc.features(proc.load_audio(data / "audio" / "short.flac"))
    fp32, again, bf16 = (model.probabilities(mel, p)["frame"] for p in ("fp32", "fp32", "bf16"))
    np.testing.assert_array_equal(fp32, again)
    diff = np.abs(fp32 - bf16)
    assert 0 < diff.max() < 0.05, diff.max()  # really computed in bf16, and still the same roll
    assert ((fp32 > 0.5) != (bf16 > 0.5)).mean() < 0.01


def test_transcriber_follows_the_config_and_says_which(trained):
    model, data, _ = trained
    path = data / "audio" / "short.flac"
    fp32 = Transcriber(model, InferenceConfig(precision="fp32"))
    bf16 = Transcriber(model, InferenceConfig(precision="bf16"))
    assert fp32.describe()["precision"] == "fp32" and bf16.describe()["precision"] == "bfloat16"
    a, b = fp32.transcribe_file(path).notes, bf16.transcribe_file(path).notes
    assert [n.pitch for n in a] == [n.pitch for n in b]
    assert max(abs(x.onset - y.onset) for x, y in zip(a, b)) <= 0.02


def test_cli_precision_flag_overrides_the_checkpoint(trained, tmp_path):
    _, data, _ = trained
    checkpoint = data.parent / "ckpt" / "best_model.pt"
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        args = ["transcribe", str(data / "audio" / "short.flac"), "-o", str(out), "--checkpoint", str(checkpoint),
                "--format", "json", "--precision", precision]
        assert cli_main(args) == 0
        expected = "fp32" if precision == "fp32" else "bfloat16"
        assert json.loads((out / "short.json").read_text())["metadata"]["precision"] == expected
