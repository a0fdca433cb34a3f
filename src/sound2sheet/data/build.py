"""``sound2sheet make-dataset``: render MIDI with piano soundfonts (or import MAESTRO) into a
dataset directory the training pipeline reads (:mod:`sound2sheet.data.manifest`).

Why it is built this way:

* Splits are by *piece*: every render of a piece lands in one split, so validation never
  hears a piece it trained on. MAESTRO keeps its canonical split; generated pieces are
  training-only by default (not music to validate on), but ``generate_split="val"`` with
  another seed makes a held-out set of a texture training targets; other pieces are assigned by a hash of
  ``(seed, piece id)``.
* Every item's randomness (timbre choice, augmentation) derives from ``(seed, item id)``, so
  rebuilding, resuming or adding sources never changes an existing item. A nonzero
  ``render_seed`` joins that pair: the same pieces and splits, rendered anew (zones, procedural
  pianos, augmentation; not the timbre order, which follows ``(seed, piece id)``).
* Each item writes its audio and MIDI atomically, then a marker ``items/<id>.json``; an item
  counts as done only when its marker exists. A killed build reruns with the same command
  and skips what is done, ending identical to an uninterrupted build.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sound2sheet.data.chimera import CHIMERA
from sound2sheet.data.manifest import SPLITS, ManifestItem, write_manifest
from sound2sheet.data.procedural import PROCEDURAL
from sound2sheet.errors import DatasetError
from sound2sheet.fileio import atomic_write, atomic_write_json

log = logging.getLogger(__name__)

MIDI_EXTENSIONS = (".mid", ".midi")
ITEMS_DIR = "items"
SYNTHETIC_TIMBRES = (PROCEDURAL, CHIMERA)  # timbre specs that name a renderer, not a font file


class SkipPiece(DatasetError):
    """A source piece that yields nothing to render (unparseable score, no notes): recorded
    and left out, not a build failure."""


@dataclass(frozen=True)
class Piece:
    """One source piece; all its renders share a split."""

    id: str
    source: str  # "midi" | "music21" | "generated" | "maestro"
    ref: str  # MIDI path, music21 corpus path, or generator index
    split: str | None = None  # fixed split (MAESTRO, generated); None: hashed
    audio: str | None = None  # MAESTRO audio path


@dataclass(frozen=True)
class Job:
    item_id: str
    piece: Piece
    timbre: str | None  # soundfont spec text; None for real audio


@dataclass
class BuildConfig:
    out_dir: Path
    midi: list[Path] = field(default_factory=list)
    music21: list[str] | None = None  # None: unused; [] or ["*"]: whole corpus; else queries (union)
    music21_limit: int | None = None
    generate: int = 0
    generate_seconds: float = 60.0
    generate_style: str = "mixed"  # sound2sheet.data.generate.STYLES
    generate_split: str = "train"  # "val" or "test" makes a held-out procedural set
    maestro: Path | None = None
    soundfonts: list[str] = field(default_factory=list)
    chimera_fonts: list[str] = field(default_factory=list)  # the pool the "chimera" timbre draws zones from
    chimera_layers: float = 0.0  # chance a chimera zone sounds a second font with its first (0: never)
    renders_per_piece: int = 1
    midi_renders: int | None = None  # renders of --midi pieces (real performances); None: renders_per_piece
    sample_rate: int = 16000
    seed: int = 0
    render_seed: int = 0  # salts every item's randomness, not the splits: a second set of the same pieces that sounds new
    val_fraction: float = 0.05
    test_fraction: float = 0.05
    augment: dict[str, Any] = field(default_factory=dict)  # AugmentConfig fields
    jobs: int = 0  # 0: all cores
    allow_reserved: bool = False
    max_piece_seconds: float | None = 600.0  # music21 scores are cut to this


def stable_seed(*parts: Any) -> int:
    """A 64-bit seed from any values, identical across runs and machines."""
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "little")


def safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120] or "piece"


# ----------------------------------------------------------------------------- sources
def midi_pieces(paths: list[Path]) -> list[Piece]:
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in MIDI_EXTENSIONS)
        elif p.is_file():
            files.append(p)
        else:
            raise DatasetError(f"MIDI path not found: {p}")
    return [Piece(safe_id(f.stem), "midi", str(f.resolve())) for f in files]


def music21_pieces(queries: list[str], limit: int | None) -> list[Piece]:
    """Corpus works matching any query (all with no query), at most ``limit`` per query."""
    from sound2sheet.data.music21_source import corpus_paths, piece_id

    queries = [q for q in queries if q not in ("", "*")]
    pieces: dict[str, Piece] = {}
    for query in queries or [None]:
        for path in corpus_paths(query, limit):
            pid = safe_id("m21_" + piece_id(path))
            pieces.setdefault(pid, Piece(pid, "music21", str(path)))  # one work in two formats is one piece
    return list(pieces.values())


def generated_pieces(n: int, style: str = "mixed", split: str = "train") -> list[Piece]:
    """Ids name the style (the mixed style keeps its original ``gen_NNNNN``), so two styles' pieces never share a seed."""
    prefix = "gen_" if style == "mixed" else f"gen_{style}_"
    return [Piece(f"{prefix}{i:05d}", "generated", style, split=split) for i in range(n)]


def maestro_pieces(root: Path) -> list[Piece]:
    """Rows of ``maestro-v3.0.0.csv`` (or any ``maestro-v*.csv``) with their canonical split."""
    root = Path(root)
    csvs = sorted(root.glob("maestro-v*.csv"))
    if not csvs:
        raise DatasetError(f"no maestro-v*.csv in {root}: expected a MAESTRO-layout folder")
    split_names = {"train": "train", "validation": "val", "test": "test"}
    pieces = []
    with open(csvs[-1], newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            split = split_names.get(row.get("split", "").strip())
            if split is None:
                raise DatasetError(f"{csvs[-1].name}: unknown split {row.get('split')!r}")
            midi, audio = root / row["midi_filename"], root / row["audio_filename"]
            if not midi.exists() or not audio.exists():
                raise DatasetError(f"{csvs[-1].name} names missing files: {row['midi_filename']} / {row['audio_filename']}")
            pieces.append(Piece(safe_id("maestro_" + Path(row["midi_filename"]).stem), "maestro", str(midi), split, str(audio)))
    return pieces


def assign_splits(pieces: list[Piece], seed: int, val_fraction: float, test_fraction: float) -> dict[str, str]:
    """Piece id -> split. Fixed splits are kept; the rest are ranked by a seeded hash and the
    first ``test_fraction`` go to test, the next ``val_fraction`` to val (at least one each
    once there are three or more such pieces and the fraction is positive)."""
    out = {p.id: p.split for p in pieces if p.split}
    free = sorted((p for p in pieces if not p.split), key=lambda p: stable_seed(seed, "split", p.id))
    n = len(free)
    n_test = max(1 if n >= 3 and test_fraction > 0 else 0, int(round(test_fraction * n)))
    n_val = max(1 if n >= 3 and val_fraction > 0 else 0, int(round(val_fraction * n)))
    for i, p in enumerate(free):
        out[p.id] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return out


def plan_jobs(pieces: list[Piece], timbres: list[str], renders: int, seed: int, midi_renders: int | None = None) -> list[Job]:
    jobs = []
    for piece in pieces:
        if piece.source == "maestro":
            jobs.append(Job(piece.id, piece, None))
            continue
        order = np.random.default_rng(stable_seed(seed, "timbre", piece.id)).permutation(len(timbres))
        count = midi_renders if piece.source == "midi" and midi_renders is not None else renders
        for k in range(count):
            spec = timbres[int(order[k % len(timbres)])]
            jobs.append(Job(f"{piece.id}--{safe_id(_timbre_name(spec))}--r{k}", piece, spec))
    return jobs


def _timbre_name(spec_text: str) -> str:
    from sound2sheet.data.soundfonts import parse_spec

    return spec_text if spec_text in SYNTHETIC_TIMBRES else parse_spec(spec_text).name


# ----------------------------------------------------------------------------- one item
def load_symbolic(piece: Piece, seed: int, generate_seconds: float, max_seconds: float | None):
    """The piece as PrettyMIDI (identical for all of its renders)."""
    import pretty_midi

    rng = np.random.default_rng(stable_seed(seed, "piece", piece.id))
    if piece.source in ("midi", "maestro"):
        return pretty_midi.PrettyMIDI(piece.ref)
    if piece.source == "generated":
        from sound2sheet.data.generate import generate_piece

        return generate_piece(rng, generate_seconds, piece.ref)
    from sound2sheet.data.music21_source import score_to_midi

    pm = score_to_midi(piece.ref, rng, max_seconds)
    if pm is None:
        raise SkipPiece(f"music21 could not export {piece.ref}")
    return pm


def _write_flac(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    atomic_write(path, lambda tmp: sf.write(tmp, audio, sample_rate, format="FLAC", subtype="PCM_16"))


def build_item(job: Job, config: BuildConfig, split: str) -> dict[str, Any]:
    """Make one item (audio, MIDI, marker); returns its marker contents."""
    import soxr

    from sound2sheet.core.audio import AudioProcessor
    from sound2sheet.data import chimera, procedural
    from sound2sheet.data.augment import AugmentConfig, augment_audio, augment_midi, normalize_peak
    from sound2sheet.data.render import RENDER_RATE, render, render_zones
    from sound2sheet.data.soundfonts import parse_spec
    from sound2sheet.midi import read_midi_notes

    out = Path(config.out_dir)
    audio_rel, midi_rel = f"audio/{job.item_id}.flac", f"midi/{job.item_id}.mid"
    salt = (config.render_seed,) if config.render_seed else ()  # 0 keeps every existing set's renders as they were
    rng = np.random.default_rng(stable_seed(config.seed, "item", *salt, job.item_id))
    applied: dict[str, Any] = {}
    if job.piece.source == "maestro":
        audio = AudioProcessor(sample_rate=config.sample_rate).load_audio(job.piece.audio)
        midi_bytes = Path(job.piece.ref).read_bytes()
        atomic_write(out / midi_rel, lambda tmp: Path(tmp).write_bytes(midi_bytes))
        timbre = "recording"
    else:
        augment = AugmentConfig(**config.augment)
        pm = load_symbolic(job.piece, config.seed, config.generate_seconds, config.max_piece_seconds)
        pm, midi_applied = augment_midi(pm, augment, rng)
        if job.timbre == procedural.PROCEDURAL:  # a new piano for every render, drawn from the item's seed
            piano = procedural.random_piano(rng)
            audio = procedural.render(pm, piano, config.sample_rate, seed=int(rng.integers(2 ** 32)))
            midi_applied["piano"] = piano.to_json()
            timbre = procedural.PROCEDURAL
        else:
            if job.timbre == chimera.CHIMERA:  # new zones for every render, drawn from the item's seed
                specs = [parse_spec(text) for text in config.chimera_fonts]
                zones = chimera.random_zones(rng, len(specs), layer_prob=config.chimera_layers)
                fonts, volumes, routes = chimera.channel_plan(zones)
                audio = render_zones(pm, [specs[f] for f in fonts], routes, volumes, RENDER_RATE)
                midi_applied["chimera"] = chimera.describe(zones, [s.name for s in specs])
                timbre = chimera.CHIMERA
            else:
                spec = parse_spec(job.timbre)
                audio = render(pm, spec, RENDER_RATE)
                timbre = spec.name
            audio = soxr.resample(audio, RENDER_RATE, config.sample_rate, quality="HQ").astype(np.float32)
        audio, audio_applied = augment_audio(audio, config.sample_rate, augment, rng)
        applied = {**midi_applied, **audio_applied}
        atomic_write(out / midi_rel, lambda tmp: pm.write(tmp))
    audio = normalize_peak(audio, 0.95) if np.abs(audio).max() > 0.95 else audio
    _write_flac(out / audio_rel, audio, config.sample_rate)
    notes = read_midi_notes(out / midi_rel, sustain_pedal=False)
    item = ManifestItem(
        audio=audio_rel, midi=midi_rel, id=job.item_id, piece=job.piece.id, timbre=timbre, source=job.piece.source,
        duration=round(len(audio) / config.sample_rate, 4), notes=len(notes),
        extra={"augmentation": applied} if applied else {},
    )
    marker = {"split": split, **item.to_json()}
    atomic_write_json(out / ITEMS_DIR / f"{job.item_id}.json", marker)
    return marker


def _build_item_safe(job: Job, config: BuildConfig, split: str) -> tuple[str, dict | None, str | None]:
    try:
        return job.item_id, build_item(job, config, split), None
    except SkipPiece as exc:  # nothing to render: remember that, so a resumed build does not retry
        marker = {"split": split, "id": job.item_id, "piece": job.piece.id, "source": job.piece.source, "skipped": str(exc)}
        atomic_write_json(Path(config.out_dir) / ITEMS_DIR / f"{job.item_id}.json", marker)
        return job.item_id, marker, None
    except Exception as exc:  # reported per item; the build goes on
        return job.item_id, None, f"{type(exc).__name__}: {exc}"


# ----------------------------------------------------------------------------- the build
def collect_pieces(config: BuildConfig) -> list[Piece]:
    pieces = midi_pieces(config.midi)
    if config.music21 is not None:
        pieces += music21_pieces(config.music21, config.music21_limit)
    pieces += generated_pieces(config.generate, config.generate_style, config.generate_split)
    if config.maestro is not None:
        pieces += maestro_pieces(config.maestro)
    ids = [p.id for p in pieces]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise DatasetError(f"two sources give the same piece id: {', '.join(duplicates[:5])}; rename the files")
    return pieces


def check_sources(pieces: list[Piece], config: BuildConfig) -> None:
    """Refuse reserved evaluation MIDIs and held-out timbres unless explicitly allowed."""
    from sound2sheet.data.reserved import reserved_reason
    from sound2sheet.data.soundfonts import parse_spec

    if CHIMERA in config.soundfonts and not config.chimera_fonts:
        raise DatasetError("the chimera timbre needs a pool of fonts: give --chimera-fonts SPEC...")
    if not 0.0 <= config.chimera_layers <= 1.0:
        raise DatasetError(f"--chimera-layers is a chance in [0, 1], got {config.chimera_layers}")
    fonts = [spec for spec in config.soundfonts if spec not in SYNTHETIC_TIMBRES]  # these need no file
    if CHIMERA in config.soundfonts:
        fonts += config.chimera_fonts
    if not config.allow_reserved:
        for p in pieces:
            if p.source in ("midi", "maestro"):
                reason = reserved_reason(p.ref)
                if reason:
                    raise DatasetError(f"{reason}; it must not be used for training (--allow-reserved overrides)")
        for spec in fonts:
            if parse_spec(spec).held_out:
                raise DatasetError(f"{spec}: MuseScore_General is the dev set's held-out timbre (--allow-reserved overrides)")
    if config.generate:  # before any item is built, not once per failed item
        from sound2sheet.data.generate import STYLES

        if config.generate_style not in STYLES:
            raise DatasetError(f"unknown generate_style {config.generate_style!r}: expected one of {', '.join(STYLES)}")
        if config.generate_split not in ("train", "val", "test"):
            raise DatasetError(f"unknown generate_split {config.generate_split!r}: expected train, val or test")
    if any(p.source != "maestro" for p in pieces) and not config.soundfonts:
        raise DatasetError("rendering MIDI needs at least one --soundfont")
    for spec in fonts:
        parse_spec(spec)  # fail early on a bad spec


def build_dataset(config: BuildConfig, progress: bool = True, on_item: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build (or resume) the dataset; returns ``dataset_info``. Raises if any item failed,
    after finishing all the others."""
    from sound2sheet import __version__

    started = time.perf_counter()
    out = Path(config.out_dir)
    pieces = collect_pieces(config)
    if not pieces:
        raise DatasetError("no sources: give --midi, --music21, --generate or --maestro")
    check_sources(pieces, config)
    splits = assign_splits(pieces, config.seed, config.val_fraction, config.test_fraction)
    jobs = plan_jobs(pieces, config.soundfonts, config.renders_per_piece, config.seed, config.midi_renders)
    (out / ITEMS_DIR).mkdir(parents=True, exist_ok=True)
    todo = [j for j in jobs if not _done(out, j)]
    failures: dict[str, str] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="make-dataset", unit="item")
    workers = config.jobs or os.cpu_count() or 1
    if todo:
        if workers == 1:
            results = (_build_item_safe(j, config, splits[j.piece.id]) for j in todo)
            _consume(results, bar, failures, on_item)
        else:
            import multiprocessing

            with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(_build_item_safe, j, config, splits[j.piece.id]) for j in todo]
                _consume((f.result() for f in as_completed(futures)), bar, failures, on_item)
    if bar is not None:
        bar.close()
    if failures:
        listing = "; ".join(f"{k}: {v}" for k, v in sorted(failures.items())[:5])
        raise DatasetError(f"{len(failures)} of {len(jobs)} items failed ({listing}); rerun to retry them")
    markers = [json.loads((out / ITEMS_DIR / f"{j.item_id}.json").read_text()) for j in jobs]
    info = write_manifests_and_info(out, markers, config, __version__)
    info["build"] = {"seconds": round(time.perf_counter() - started, 1), "items_built": len(todo), "workers": workers}
    atomic_write_json(out / "build_log.json", info["build"])
    return info


def _done(out: Path, job: Job) -> bool:
    marker = out / ITEMS_DIR / f"{job.item_id}.json"
    if not marker.exists():
        return False
    return "skipped" in json.loads(marker.read_text()) or (out / "audio" / f"{job.item_id}.flac").exists()


def _consume(results, bar, failures: dict[str, str], on_item) -> None:
    for item_id, marker, error in results:
        if error:
            failures[item_id] = error
            log.warning("item %s failed: %s", item_id, error)
        if bar is not None:
            bar.update(1)
        if on_item is not None:
            on_item(item_id)


def write_manifests_and_info(out: Path, markers: list[dict[str, Any]], config: BuildConfig, version: str) -> dict[str, Any]:
    """Manifests per split and ``dataset_info.json`` from the item markers."""
    skipped = sorted((m for m in markers if "skipped" in m), key=lambda m: m["id"])
    markers = [m for m in markers if "skipped" not in m]
    by_split: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for m in sorted(markers, key=lambda m: m["id"]):
        by_split[m["split"]].append(m)
    known = {"audio", "midi", "id", "piece", "timbre", "source", "duration", "notes"}
    for split, items in by_split.items():
        write_manifest(out, split, [
            ManifestItem(**{k: m[k] for k in known if k in m}, extra={k: v for k, v in m.items() if k not in known | {"split"}})
            for m in items
        ])
    def summary(items: list[dict]) -> dict[str, Any]:
        return {
            "items": len(items), "pieces": len({m["piece"] for m in items}),
            "hours": round(sum(m.get("duration", 0.0) for m in items) / 3600, 4), "notes": sum(m.get("notes", 0) for m in items),
        }
    count = lambda key: dict(sorted({v: sum(1 for m in markers if m.get(key) == v) for v in {m.get(key) for m in markers}}.items()))
    config_dict = {k: (str(v) if isinstance(v, Path) else [str(x) for x in v] if k == "midi" else v) for k, v in asdict(config).items()}
    config_dict.pop("out_dir")
    from sound2sheet.data.augment import AugmentConfig

    info = {
        "tool": "sound2sheet", "version": version,
        "splits": {s: summary(items) for s, items in by_split.items()},
        "total": summary(markers),
        "timbres": count("timbre"), "sources": count("source"),
        "augmentation": asdict(AugmentConfig(**config.augment)),
        "skipped": {m["id"]: m["skipped"] for m in skipped},
        "config": config_dict,
    }
    atomic_write_json(out / "dataset_info.json", info)
    return info
