"""The temporal refiner: a zero-initialised addition to a trained head, with a known reach."""

import numpy as np
import pytest
import torch

from sound2sheet.core import AudioProcessor
from sound2sheet.errors import CheckpointError, ConfigError
from sound2sheet.inference import Transcriber
from sound2sheet.model import DataConfig, InferenceConfig, ModelConfig, Sound2SheetModel
from sound2sheet.model.checkpoint import load_model_weights
from sound2sheet.model.classifier import TemporalRefiner

from sound2sheet.model import Trainer
from sound2sheet.model.dataset import create_dataloaders

from .conftest import tiny_model_config, training_config


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def assert_exact_warm_start(trained, grown, x, new_prefix, trained_x=None, head="frame") -> None:
    """``grown`` warm-started from ``trained``: only ``new_prefix`` parameters are new, every
    head's output on ``x`` (``trained_x`` for ``trained`` if given) is unchanged, and ``grown``
    is left in train mode after one backward pass of ``head``, for the caller's gradient check."""
    new = load_model_weights(grown, trained.state_dict(), allow_new=True)
    assert new and all(k.startswith(new_prefix) for k in new)
    with torch.no_grad():
        before = trained.forward_heads(x if trained_x is None else trained_x)
        after = grown.forward_heads(x)
    for name in before:
        torch.testing.assert_close(after[name], before[name])
    grown.train()
    grown.forward_heads(x)[head].sum().backward()


def assert_chunked_equals_whole(model, audio, sample_rate=16000) -> None:
    """Streaming transcription (200-frame chunks) sees the same frame probabilities as one
    forward pass over the whole file's features."""
    whole = model.probabilities(AudioProcessor.from_config(model.data_config).features(audio))["frame"][0]
    rec = _Recorder(model, InferenceConfig(normalize_peak=0.0), chunk_frames=200)  # chunking alone: the level stays
    rec.transcribe_array(audio, sample_rate)
    chunked = np.concatenate(rec.rows)
    assert chunked.shape == whole.shape
    # The two paths multiply matrices of different shapes, so float32 sums run in another
    # order: up to 8e-5 apart on an AMD EPYC, within 2e-5 on earlier sessions' CPU. A context bug
    # (a refiner or encoder window seeing too little) moves probabilities by orders more.
    np.testing.assert_allclose(chunked, whole, atol=2e-4)


def test_warm_start_adds_a_refiner_without_changing_outputs():
    torch.manual_seed(0)
    trained = Sound2SheetModel(tiny_model_config()).eval()
    grown = Sound2SheetModel(tiny_model_config(refine_layers=3)).eval()
    assert_exact_warm_start(trained, grown, torch.randn(2, 128, 300), "classifier.refiner.")
    # and training can move it: the zero output layer gets a gradient at once
    assert grown.classifier.refiner.out.weight.grad.abs().sum() > 0


def test_trainer_warm_starts_a_model_with_a_refiner_from_one_without(data_config, tmp_path):
    plain_config = tiny_model_config()
    tc = training_config(tmp_path / "plain", num_epochs=1, max_steps=2)
    train, val, _ = create_dataloaders(data_config, plain_config, tc)
    Trainer(Sound2SheetModel(plain_config), train, val, plain_config, tc, data_config).train()
    source = torch.load(tmp_path / "plain" / "last.pt", weights_only=True)["model_state_dict"]

    grown_config = tiny_model_config(refine_layers=2)
    tc = training_config(tmp_path / "grown", num_epochs=1, max_steps=3, init_from=str(tmp_path / "plain" / "last.pt"))
    model = Sound2SheetModel(grown_config)
    trainer = Trainer(model, train, val, grown_config, tc, data_config)
    for name, value in source.items():  # every trained tensor arrives; the refiner starts at zero output
        torch.testing.assert_close(model.state_dict()[name], value)
    assert model.classifier.refiner.out.weight.abs().sum() == 0
    trainer.train()
    assert model.classifier.refiner.out.weight.abs().sum() > 0
    saved = torch.load(tmp_path / "grown" / "last.pt", weights_only=True)
    assert saved["model_config"]["refine_layers"] == 2
    assert Sound2SheetModel.from_pretrained(tmp_path / "grown" / "last.pt").classifier.refiner is not None


def test_warm_start_still_refuses_weights_that_do_not_fit():
    with_refiner = Sound2SheetModel(tiny_model_config(refine_layers=2))
    plain = Sound2SheetModel(tiny_model_config())
    with pytest.raises(CheckpointError, match="does not fit"):  # keys the model lacks
        load_model_weights(plain, with_refiner.state_dict(), allow_new=True)
    wider = Sound2SheetModel(tiny_model_config(classifier_hidden_dim=96))
    with pytest.raises(CheckpointError, match="does not fit"):  # a shape mismatch
        load_model_weights(plain, wider.state_dict(), allow_new=True)
    with pytest.raises(CheckpointError, match="does not fit"):  # strict without allow_new
        load_model_weights(with_refiner, plain.state_dict())


@pytest.mark.parametrize("layers,kernel", [(1, 3), (4, 3), (3, 5)])
def test_refiner_reaches_exactly_its_radius(layers, kernel):
    config = ModelConfig(pretrained=False, encoder_size="tiny", refine_layers=layers, refine_kernel=kernel, refine_dim=16)
    refiner = TemporalRefiner(8, 4, config)
    _randomise(refiner)
    x = torch.randn(1, 200, 8)
    y = x.clone()
    y[0, 100] += 1.0
    with torch.no_grad():
        changed = (refiner(y)[0] - refiner(x)[0]).abs().sum(-1)[0] > 1e-6
    frames = torch.nonzero(changed).flatten()
    radius = config.refine_radius_frames
    assert radius == (kernel // 2) * (2 ** layers - 1)
    assert frames.min().item() == 100 - radius and frames.max().item() == 100 + radius


def test_refiner_config_is_validated():
    with pytest.raises(ConfigError, match="refine_kernel"):
        tiny_model_config(refine_layers=2, refine_kernel=4)
    with pytest.raises(ConfigError, match="refine_layers"):
        tiny_model_config(refine_layers=-1)
    with pytest.raises(ConfigError, match="at most 10"):
        tiny_model_config(refine_layers=11)


class _Recorder(Transcriber):
    """Keeps the frame probabilities the transcriber decodes."""

    def _decoder(self):
        real = super()._decoder()
        self.rows = []
        push = real.push

        def recording_push(frame, *rest):
            self.rows.append(np.array(frame))
            return push(frame, *rest)

        real.push = recording_push
        return real


@pytest.mark.parametrize("refine_layers,seconds", [(0, 9.0), (0, 6.3), (7, 9.0), (7, 11.7)])
def test_chunked_probabilities_equal_whole_file(refine_layers, seconds):
    # 7 layers reach 127 frames, more than half the tiny encoder's 256-frame window; the lengths
    # put the whole-file pass's end-aligned last window at different offsets from the chunk grid
    torch.manual_seed(0)
    model = Sound2SheetModel(tiny_model_config(refine_layers=refine_layers)).eval()
    if refine_layers:
        _randomise(model.classifier.refiner)
    model.data_config = DataConfig()
    audio = np.random.default_rng(0).normal(0, 0.1, int(16000 * seconds)).astype(np.float32)
    assert _Recorder(model, InferenceConfig()).context >= model.encoder.overlap + model.config.refine_radius_frames + 5
    assert_chunked_equals_whole(model, audio)


def test_trainer_grows_the_encoder_with_identity_layers(data_config, tmp_path):
    """Layers appended to a trained encoder start as identities: same outputs, then they learn."""
    plain_config = tiny_model_config()  # the tiny encoder: 2 layers
    tc = training_config(tmp_path / "plain", num_epochs=1, max_steps=2)
    train, val, _ = create_dataloaders(data_config, plain_config, tc)
    Trainer(Sound2SheetModel(plain_config), train, val, plain_config, tc, data_config).train()
    plain = Sound2SheetModel.from_pretrained(tmp_path / "plain" / "last.pt")

    deep_config = tiny_model_config(encoder_config={"num_hidden_layers": 3})
    tc = training_config(tmp_path / "deep", num_epochs=1, max_steps=3, init_from=str(tmp_path / "plain" / "last.pt"))
    model = Sound2SheetModel(deep_config)
    trainer = Trainer(model, train, val, deep_config, tc, data_config)
    mel = torch.randn(1, deep_config.n_features, 300)
    torch.testing.assert_close(model.eval().probabilities(mel)["frame"], plain.probabilities(mel)["frame"])
    fc2 = model.encoder.ast.layers[2].mlp.fc2.weight
    assert fc2.abs().sum() == 0 and model.encoder.ast.layers[1].mlp.fc2.weight.abs().sum() > 0  # old layers kept
    trainer.train()
    assert fc2.abs().sum() > 0  # the new layer trains
    reloaded = Sound2SheetModel.from_pretrained(tmp_path / "deep" / "last.pt")
    assert len(reloaded.encoder.ast.layers) == 3
