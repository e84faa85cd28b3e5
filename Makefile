# The two commands of the README:
#   make demo   sets everything up and renders the demo film into renders/
#   make test   sets everything up and runs the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test setup system-deps bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# ffprobe (Debian's ffmpeg package) is what the tests inspect media with; racines itself
# encodes with the ffmpeg binary that the imageio-ffmpeg wheel ships.
system-deps:
	@command -v ffprobe >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; \
	  else echo "ffprobe not found: install ffmpeg (e.g. sudo apt-get install ffmpeg) and run make test again"; exit 1; fi; }

demo: setup
	$(BIN)/racines render

test: setup system-deps
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/bench_render.py

clean:
	rm -rf renders/takes renders/*.mov renders/*.mp4 edl/*.edl edl/*.otio
