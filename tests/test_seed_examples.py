"""The seed documentation's training and inference examples run as written (src. -> sound2sheet.).

The default ModelConfig loads "MIT/ast-finetuned-audioset-10-10-0.4593" with real loading
code; here a tiny AST is saved into a local Hugging Face cache under that name, as a user who
downloaded it earlier would have, and the hub is kept offline.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.conftest import isolated_notes, write_dataset

TRAINING_EXAMPLE = '''
from pathlib import Path
from sound2sheet.model import Sound2SheetModel, Trainer
from sound2sheet.model import ModelConfig, TrainingConfig, DataConfig
from sound2sheet.model.dataset import create_dataloaders

# Configurations
model_config = ModelConfig(
    num_piano_keys=88,
    frame_duration_ms=10.0,
    classification_threshold=0.5,
    use_temporal_conv=True,
    freeze_encoder=True  # Fine-tune classifier only
)

training_config = TrainingConfig(
    learning_rate=1e-4,
    batch_size=8,
    num_epochs=50,
    use_mixed_precision=True
)

data_config = DataConfig(
    dataset_dir=Path("data/datasets/my_experiment"),
    sample_rate=16000,
    n_mels=128,
    hop_length=160  # Matches frame_duration_ms
)

# Create dataloaders
train_loader, val_loader, test_loader = create_dataloaders(
    data_config,
    model_config,
    training_config
)

# Initialize model
model = Sound2SheetModel(model_config, freeze_encoder=True)

# Train
trainer = Trainer(
    model=model,
    train_loader=train_loader,
    val_loader=val_loader,
    model_config=model_config,
    training_config=training_config
)

history = trainer.train()
'''

INFERENCE_EXAMPLE = '''
from sound2sheet.model import Sound2SheetModel, InferenceConfig
from sound2sheet.core import AudioProcessor
import torch

# Load model
checkpoint = torch.load("data/best_model.pt")
config = ModelConfig(
    num_piano_keys=88,
    frame_duration_ms=10.0,
    # ... use checkpoint params
)
model = Sound2SheetModel(config)
model.load_state_dict(checkpoint['model_state_dict'])
model.eval()

# Process audio
processor = AudioProcessor()
audio = processor.load_audio("piano.wav")
mel = processor.to_mel_spectrogram(audio)
mel_tensor = torch.from_numpy(mel).unsqueeze(0)  # Add batch dim

# Predict
inference_config = InferenceConfig(
    classification_threshold=0.5,
    min_note_duration_ms=30.0,
    use_median_filter=True,
    median_filter_size=3
)

piano_roll, events = model.predict(mel_tensor, inference_config)

# Events: List of {pitch, onset_time_ms, offset_time_ms}
for event in events[0]:  # First batch
    print(f"Note {event['pitch']} from {event['onset_time_ms']:.0f}ms to {event['offset_time_ms']:.0f}ms")
'''

GLUE = '''
import shutil
print("HISTORY", len(history), round(history[-1]["train_loss"], 4))
shutil.copy("checkpoints/best_model.pt", "data/best_model.pt")
'''


def _fake_hub_cache(cache: Path) -> None:
    from transformers import ASTConfig, ASTModel

    from sound2sheet.model.config import ENCODER_SIZES

    repo = cache / "models--MIT--ast-finetuned-audioset-10-10-0.4593"
    snapshot = repo / "snapshots" / ("0" * 40)
    ASTModel(ASTConfig(**ENCODER_SIZES["tiny"])).save_pretrained(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)


def test_seed_examples_run_as_written(tmp_path):
    import soundfile as sf

    from sound2sheet.data.synth import synthesize

    rng = np.random.default_rng(3)
    clips = lambda n, prefix: [(f"{prefix}{i}", isolated_notes(list(np.arange(0.3, 11, 0.7)), list(rng.integers(48, 85, 15))), 12.0) for i in range(n)]
    write_dataset(tmp_path / "data" / "datasets" / "my_experiment", {"train": clips(2, "tr"), "val": clips(1, "va")})
    sf.write(tmp_path / "piano.wav", synthesize(isolated_notes([0.5, 1.5], [60, 67]), 44100), 44100)
    _fake_hub_cache(tmp_path / "hub")
    script = tmp_path / "examples.py"
    script.write_text(TRAINING_EXAMPLE + GLUE + INFERENCE_EXAMPLE)
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(sys.path))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    history_line = next(line for line in result.stdout.splitlines() if line.startswith("HISTORY"))
    assert int(history_line.split()[1]) >= 1
    assert (tmp_path / "checkpoints" / "last.pt").exists()
    for line in result.stdout.splitlines():
        if line.startswith("Note "):
            assert line.split()[2] == "from" and line.endswith("ms")
