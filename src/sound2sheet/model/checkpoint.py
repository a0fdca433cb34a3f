"""Checkpoints are plain dicts written atomically and read with ``weights_only=True``.

Keys: ``format``, ``format_version``, ``sound2sheet_version``, ``model_state_dict``,
``model_config``, ``encoder_config`` (the AST shape, so loading never downloads),
``data_config`` (the features the weights were trained with), ``inference_config``, and for
resuming ``training_config``, ``optimizer_state_dict``, ``scheduler_state_dict``,
``scaler_state_dict``, ``train_state`` (epoch, step, position in the epoch, best metric,
history) and ``rng_state``. A run with a weight average (``TrainingConfig.weight_average``)
stores the average as ``model_state_dict`` and, in ``last.pt``, the raw weights the optimizer
state belongs to as ``training_state_dict``.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from sound2sheet.errors import CheckpointError, first_line
from sound2sheet.fileio import atomic_write

FORMAT = "sound2sheet-checkpoint"
FORMAT_VERSION = 1
BEST_NAME = "best_model.pt"
LAST_NAME = "last.pt"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus format markers) to ``path`` atomically."""
    from sound2sheet import __version__

    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "sound2sheet_version": __version__, **payload}
    return atomic_write(path, lambda tmp: torch.save(data, tmp))


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A checkpoint file, or ``best_model.pt`` inside a directory."""
    path = Path(path)
    if path.is_dir():
        for name in (BEST_NAME, LAST_NAME):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"no {BEST_NAME} or {LAST_NAME} in directory {path}")
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely (no pickled code runs) and check it is ours."""
    path = resolve_checkpoint_path(path)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError) as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint: {_load_failure(path, exc)}") from None
    if not isinstance(data, dict) or "model_state_dict" not in data or "model_config" not in data:
        raise CheckpointError(f"{path} is not a Sound2Sheet checkpoint (no model_state_dict/model_config)")
    return data


def _load_failure(path: Path, exc: BaseException) -> str:
    """Why ``torch.load`` failed, in one line. For a file that is not a PyTorch file at all,
    torch's own first line advises retrying with ``weights_only=False``: misleading (and
    unsafe), so say what the file is instead; otherwise keep torch's specific detail."""
    import zipfile

    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        head = b"?"
    if not head:
        return "the file is empty"
    text = str(exc).strip()
    if not zipfile.is_zipfile(path):
        if head == b"PK\x03\x04":  # torch's zip format without its central directory at the end
            return "the file is truncated or damaged (incomplete zip archive)"
        if head[:1] != b"\x80":  # not a legacy (raw pickle) torch file either
            return "not a PyTorch checkpoint file"
    if "WeightsUnpickler error:" in text:  # a real pickle holding objects that safe loading refuses
        detail = text.split("WeightsUnpickler error:", 1)[1].strip().splitlines()[0].strip()
        return f"it holds Python objects that safe (weights-only) loading refuses: {detail[:150]}"
    return first_line(exc)


def load_model_weights(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str = "checkpoint",
                       allow_new: bool = False) -> list[str]:
    """``load_state_dict`` with a one-line error when shapes or keys do not fit.

    ``allow_new`` (warm starts): parameters the checkpoint lacks keep their initialisation
    (a module added to a trained model); keys the model lacks and shape mismatches stay
    errors. Returns the names of the parameters left at their initialisation.
    """
    missing: list[str] = []
    if allow_new:
        own = model.state_dict()
        missing = [k for k in own if k not in state_dict]
        state_dict = {**{k: own[k] for k in missing}, **state_dict}
    try:
        model.load_state_dict(state_dict, strict=True)
        return missing
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = "; ".join(lines[1:3]) if len(lines) > 1 else lines[0]
        raise CheckpointError(f"{source} does not fit this model configuration: {detail[:300]}") from None


def model_from_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", fast_start: bool = False):
    """Rebuild the model a checkpoint describes, load its weights, attach its data and
    inference configs, and put it in eval mode. ``fast_start``: the traced encoder of
    :mod:`sound2sheet.startup_cache` (CPU inference only; ignored elsewhere)."""
    from sound2sheet.errors import Sound2SheetError
    from sound2sheet.model.config import DataConfig, InferenceConfig, ModelConfig, check_compatible
    from sound2sheet.model.sound2sheet_model import Sound2SheetModel

    ckpt = load_checkpoint(path, map_location=map_location)
    try:
        model_config = ModelConfig.from_dict(ckpt["model_config"], strict=False)
        cached = fast_start and torch.device(map_location).type == "cpu"
        model = Sound2SheetModel(model_config, freeze_encoder=False, encoder_config=ckpt.get("encoder_config"),
                                 cached_encoder=cached)
        data_config = DataConfig.from_dict(ckpt["data_config"], strict=False) if ckpt.get("data_config") else None
        inference_config = (InferenceConfig.from_dict(ckpt["inference_config"], strict=False)
                            if ckpt.get("inference_config") else None)
        if data_config is not None:  # features the model cannot take would fail deep inside the encoder
            check_compatible(data_config, model_config)
    except (TypeError, ValueError, KeyError, Sound2SheetError) as exc:
        raise CheckpointError(f"{path}: invalid configuration in checkpoint: {exc}") from None
    load_model_weights(model, ckpt["model_state_dict"], source=str(path))
    if data_config is not None:
        model.data_config = data_config
    if inference_config is not None:
        model.inference_config = inference_config
    return model.to(map_location).eval()


def average_weights(ckpt: dict[str, Any], others: list[str | Path]) -> dict[str, torch.Tensor]:
    """The float32 mean of ``ckpt``'s weights and each of ``others``' (a model soup; integer
    buffers are ``ckpt``'s): runs fine-tuned from one start average into one model
    (docs/experiments.md #24, #27). Refuses checkpoints of another architecture."""
    states = [ckpt["model_state_dict"]]
    for other in others:
        loaded = load_checkpoint(other)
        if loaded.get("model_config") != ckpt.get("model_config") or set(loaded["model_state_dict"]) != set(states[0]):
            raise CheckpointError(f"{other}: another architecture than the first checkpoint; only the same model averages")
        states.append(loaded["model_state_dict"])
    out = {}
    for key, value in states[0].items():
        if value.is_floating_point():
            out[key] = sum(s[key].float() for s in states) / len(states)
        else:
            out[key] = value
    return out


def export_for_inference(
    source: str | Path, target: str | Path, half: bool = True, inference: dict[str, Any] | None = None,
    average_with: list[str | Path] | None = None,
) -> Path:
    """Write a slim copy of a checkpoint for shipping: weights (float16 when ``half``: half the
    size, and loading casts back to float32) and the configs needed to rebuild the model and
    its features; no optimizer or RNG state, so it cannot be resumed, only used or warm-started.
    ``inference`` overrides decoding fields (e.g. thresholds tuned on a validation split);
    ``average_with`` averages more checkpoints' weights into it (:func:`average_weights`)."""
    from sound2sheet.model.config import InferenceConfig

    ckpt = load_checkpoint(source)
    if average_with:
        ckpt["model_state_dict"] = average_weights(ckpt, list(average_with))
    weights = {
        k: (v.half() if half and v.is_floating_point() else v).contiguous()
        for k, v in ckpt["model_state_dict"].items()
    }
    keep = ("model_config", "encoder_config", "data_config", "inference_config", "training_config")
    payload: dict[str, Any] = {"model_state_dict": weights, **{k: ckpt[k] for k in keep if ckpt.get(k) is not None}}
    if inference:
        payload["inference_config"] = InferenceConfig.from_dict({**(ckpt.get("inference_config") or {}), **inference}).to_dict()
    state = ckpt.get("train_state")
    if state is None and ckpt.get("provenance"):  # re-exporting an export (new decoding): same training run
        payload["provenance"] = ckpt["provenance"]
    else:
        state = state or {}
        payload["provenance"] = {
            "source": Path(source).name, "step": state.get("step"), "epoch": state.get("epoch"),
            "best_value": state.get("best_value"), "best_epoch": state.get("best_epoch"),
        }
    if average_with:
        payload["provenance"] = {**payload["provenance"], "averaged_with": [Path(p).name for p in average_with]}
    return save_checkpoint(target, payload)
