"""What transformers computes for us, cached on disk, so processes start without importing it.

Importing transformers' AST modules takes ~2.2 s on a 2-core CPU (they pull in
torch.distributed.tensor, torch._dynamo and scipy.optimize), and its package alone ~0.6 s: a
quarter of a whole ``transcribe`` of the 10-minute dev set (docs/experiments.md #44).

Two things are cached. :func:`cached_array` keeps small arrays transformers builds (the
fbank's mel filters and window), keyed by their arguments. The encoder cache holds the graph of
``transformers.ASTModel`` for one encoder shape, traced once with TorchScript; later processes
load it in ~30 ms without importing transformers, then load the checkpoint's own weights into
it (its parameter names are ASTModel's), so one cache file serves every checkpoint of a shape
and never holds stale weights.

The encoder cache serves inference on the CPU in eval mode only. Any failure to read or write
either cache logs a warning and falls back to transformers. Keys cover the arguments and the
torch, transformers and sound2sheet versions, so an upgrade builds afresh.

``SOUND2SHEET_CACHE``: the cache directory (default ``~/.cache/sound2sheet``, or
``$XDG_CACHE_HOME/sound2sheet``); ``off`` disables it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from sound2sheet.errors import first_line

log = logging.getLogger(__name__)

ENV = "SOUND2SHEET_CACHE"
CACHE_FORMAT = 1
TRACE_BATCH = 2  # the traced graph takes any batch; the window length is fixed by the shape


def cache_dir() -> Path | None:
    """Where the cache lives, or None when ``SOUND2SHEET_CACHE=off``."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in ("off", "0", "false", "no"):
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sound2sheet"


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def _entry(prefix: str, key: dict[str, Any], suffix: str) -> Path | None:
    """The file for ``key`` under the current library versions (None: cache off)."""
    from sound2sheet import __version__

    root = cache_dir()
    if root is None:
        return None
    text = json.dumps({"format": CACHE_FORMAT, "key": key, "torch": torch.__version__,
                       "transformers": _version("transformers"), "sound2sheet": __version__}, sort_keys=True)
    return root / f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:20]}{suffix}"


def cached_array(name: str, key: dict[str, Any], build: Callable[[], np.ndarray]) -> np.ndarray:
    """``build()``'s array, read from the cache when it holds one for ``name`` and ``key``
    (JSON-able arguments that determine it), else built and stored."""
    from sound2sheet.fileio import atomic_write

    path = _entry(name, key, ".npy")
    if path is not None and path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except Exception as exc:
            log.warning("ignoring the unreadable cache file %s (%s)", path, first_line(exc, 120))
    array = np.asarray(build())
    if path is not None:
        try:
            atomic_write(path, lambda tmp: _save_npy(tmp, array))
        except Exception as exc:
            log.warning("could not cache %s at %s (%s); set %s to a writable directory, or to off", name, path,
                        first_line(exc, 120), ENV)
    return array


def _save_npy(path: str, array: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.save would append ".npy" to a name
        np.save(fh, array, allow_pickle=False)


def cache_path(encoder_config: dict[str, Any]) -> Path | None:
    """The traced encoder's file for this shape (None: cache off)."""
    return _entry("ast", encoder_config, ".pt")


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence warnings while tracing, saving or loading: torch deprecates TorchScript in
    favour of torch.export, whose loader imports ~1.5 s of modules, most of what this cache
    saves. When TorchScript goes, loading fails and inference falls back to transformers.
    transformers' own logger is quieted too: tracing reads every attribute of its model,
    ``loss_function`` included, which logs a loss warning that has nothing to do with inference."""
    import logging
    import warnings

    library = logging.getLogger("transformers")
    level = library.level
    library.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        library.setLevel(level)


def load_encoder(encoder_config: dict[str, Any]) -> nn.Module | None:
    """The traced encoder for this shape, weights still to be loaded; None on a miss or a
    damaged file (which the next :func:`save_encoder` replaces)."""
    path = cache_path(encoder_config)
    if path is None or not path.is_file():
        return None
    try:
        with _quiet():
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # any unreadable file only costs the fast start
        log.warning("ignoring the unreadable encoder cache %s (%s); tracing it again", path, first_line(exc, 120))
        return None
    return module.eval()


def save_encoder(ast: nn.Module, encoder_config: dict[str, Any]) -> Path | None:
    """Trace ``ast`` (a ``transformers.ASTModel``) in eval mode and write it atomically; None,
    with a warning, when tracing or writing fails."""
    from sound2sheet.fileio import atomic_write

    path = cache_path(encoder_config)
    if path is None:
        return None
    was_training = ast.training
    ast.eval()
    example = torch.zeros(TRACE_BATCH, encoder_config["max_length"], encoder_config["num_mel_bins"])
    try:
        # transformers' "Python boolean" tracer warnings: the only value they freeze is
        # ``q_length > 1``, which the fixed window length fixes.
        with _quiet(), torch.no_grad():
            traced = torch.jit.trace(ast, example_kwarg_inputs={"input_values": example}, strict=False,
                                     check_trace=False)
            atomic_write(path, lambda tmp: torch.jit.save(traced, tmp))
    except Exception as exc:
        log.warning("could not cache the traced encoder at %s (%s); inference is unaffected (set %s to a "
                    "writable directory, or to off)", path, first_line(exc, 120), ENV)
        return None
    finally:
        ast.train(was_training)
    return path
