import pytest
from pathlib import Path

from sound2sheet.errors import ConfigError
from sound2sheet.model import DataConfig, InferenceConfig, ModelConfig, TrainingConfig
from sound2sheet.model.config import check_compatible


def test_public_defaults_are_the_documented_ones():
    m = ModelConfig()
    assert (m.ast_model_name, m.hidden_size, m.dropout, m.num_piano_keys) == ("MIT/ast-finetuned-audioset-10-10-0.4593", 768, 0.1, 88)
    assert (m.min_midi_note, m.max_midi_note, m.frame_duration_ms, m.classification_threshold) == (21, 108, 10.0, 0.5)
    assert (m.num_classifier_layers, m.classifier_hidden_dim, m.use_temporal_conv, m.temporal_conv_kernel) == (2, 512, True, 5)
    assert (m.freeze_encoder, m.pretrained) == (False, True)
    t = TrainingConfig()
    assert (t.learning_rate, t.batch_size, t.num_epochs, t.use_mixed_precision) == (1e-4, 8, 50, True)
    d = DataConfig()
    assert (d.sample_rate, d.n_mels, d.hop_length) == (16000, 128, 160)
    i = InferenceConfig()
    assert (i.classification_threshold, i.min_note_duration_ms, i.use_median_filter, i.median_filter_size) == (0.5, 30.0, True, 3)


def test_hidden_size_follows_encoder_width():
    assert ModelConfig(pretrained=False, encoder_size="tiny").hidden_size == 64
    assert ModelConfig(pretrained=False, encoder_size="small").hidden_size == 192
    assert ModelConfig(pretrained=False, encoder_size="base").hidden_size == 768
    assert ModelConfig(pretrained=False, encoder_size="tiny", encoder_config={"hidden_size": 96, "num_attention_heads": 3}).hidden_size == 96


def test_hop_length_disagreeing_with_frame_duration_is_refused():
    with pytest.raises(ConfigError, match="hop_length=256.*use hop_length=160"):
        check_compatible(DataConfig(hop_length=256), ModelConfig(pretrained=False))
    check_compatible(DataConfig(sample_rate=22050, hop_length=441), ModelConfig(pretrained=False, frame_duration_ms=20.0))


def test_bad_values_are_refused():
    with pytest.raises(ConfigError, match="encoder_size"):
        ModelConfig(encoder_size="huge")
    with pytest.raises(ConfigError, match="num_piano_keys"):
        ModelConfig(num_piano_keys=87)
    with pytest.raises(ConfigError, match="odd"):
        ModelConfig(temporal_conv_kernel=4)
    with pytest.raises(ConfigError, match="lr_schedule"):
        TrainingConfig(lr_schedule="step")
    with pytest.raises(ConfigError, match="feature_eq_db"):
        DataConfig(feature_eq_db=-1.0)
    with pytest.raises(ConfigError, match="min_reonset_ms"):
        InferenceConfig(min_reonset_ms=-5.0)
    with pytest.raises(ConfigError, match="reonset_threshold"):
        InferenceConfig(reonset_threshold=1.0)


def test_dict_round_trip_and_unknown_keys():
    for cfg in (ModelConfig(pretrained=False, encoder_size="small"), TrainingConfig(seed=3), DataConfig(dataset_dir="x"), InferenceConfig()):
        assert type(cfg).from_dict(cfg.to_dict()) == cfg
    assert isinstance(DataConfig(dataset_dir="x").to_dict()["dataset_dir"], str)
    with pytest.raises(ConfigError, match="learning_rat.*did you mean learning_rate"):
        TrainingConfig.from_dict({"learning_rat": 1.0})
    assert TrainingConfig.from_dict({"learning_rat": 1.0}, strict=False) == TrainingConfig()


@pytest.mark.parametrize("path", sorted(Path(__file__).resolve().parents[1].glob("configs/*.json")), ids=lambda p: p.name)
def test_shipped_recipes_load(path):
    from sound2sheet.runconfig import load_run_config

    run = load_run_config(path)
    assert run.model.encoder_size == "small" and str(run.training.checkpoint_dir).startswith("runs/")
