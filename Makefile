# The two commands of the README:
#   make demo   sets everything up and renders the demo film into renders/
#   make test   sets everything up and runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint setup system-deps bench bench-batch clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# ffprobe (Debian's ffmpeg package) is what the tests inspect media with (and its ffmpeg measures
# loudness apart from racines' own), Debian's chromium opens the batch's dailies page headless,
# and espeak-ng spoke the demo's voices (shots/make_demo_sound.py); racines itself encodes with
# the ffmpeg binary that the imageio-ffmpeg wheel ships. Installed when missing if we are root
# on Debian/Ubuntu.
system-deps:
	@missing=""; \
	command -v ffprobe >/dev/null 2>&1 || missing=" ffmpeg"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing:$$missing (the tests use ffprobe and headless chromium; espeak-ng remakes the demo's voices): install them, e.g. sudo apt-get install$$missing, and run make test again"; exit 1; fi; \
	fi

demo: setup
	$(BIN)/racines render

test: setup system-deps lint
	$(BIN)/python -m pytest -q

# The guard rails: ruff, the layer contracts of the README's architecture (pyproject.toml,
# [tool.importlinter]) and the types of the pure layers
TYPED := racines/core racines/errors.py racines/edit/timecode.py racines/batch/policy.py racines/render/plan.py racines/render/policy.py racines/render/stale.py
lint: setup
	$(BIN)/ruff check racines tests bench
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy $(TYPED)

bench: setup
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/bench_render.py

bench-batch: setup
	$(BIN)/python bench/bench_batch.py

clean:
	rm -rf renders/takes renders/*.mov renders/*.mp4 renders/*.wav renders/*_mix.json renders/dailies edl/*.edl edl/*.otio
