# Set-up is two commands: `make run` (build the bundled sample) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLI := $(BIN)/muscle-assets
M ?=

.PHONY: run build muscle check list test lint format bench bench-build bench-tools bench-animation bench-dask clean distclean sample

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: build  ## create .venv, install, build the bundled sample

build: $(STAMP)
	$(CLI) build

muscle: $(STAMP)  ## make muscle M=<SetId>
	@test -n "$(M)" || { echo "usage: make muscle M=<SetId>" >&2; exit 2; }
	$(CLI) build $(M)

check: $(STAMP)
	$(CLI) check

list: $(STAMP)
	$(CLI) list

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

sample: $(STAMP)  ## regenerate raw/ from the renderer
	$(BIN)/python scripts/render_sample.py --out raw

bench: bench-build bench-animation bench-dask  ## every benchmark (results in bench/results/)

bench-build: $(STAMP) bench-tools  ## full/incremental/parallel build vs a reference recipe (BUILD_ARGS="--config bench/speed.yaml")
	$(BIN)/python bench/build.py $(BUILD_ARGS)

# Reference tools for the benchmark, each optional: a tool that cannot be installed
# is reported as "missing" by the benchmark. npm packages go into bench/.tools
# (git-ignored); Debian packages only when running as root with apt-get.
bench-tools:
	-@test -d bench/.tools/node_modules/sharp -a -d bench/.tools/node_modules/gifski || \
	  npm install --prefix bench/.tools --no-save --no-audit --no-fund sharp gifski >/dev/null 2>&1 || \
	  echo "bench-tools: npm install of sharp/gifski failed; they will be reported missing"
	-@command -v cwebp >/dev/null && command -v vipsthumbnail >/dev/null || \
	  { test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
	    apt-get install -y --no-install-recommends webp libvips-tools >/dev/null 2>&1; } || \
	  echo "bench-tools: cwebp/vips not installed; they will be reported missing"

GIFSKI := bench/.tools/node_modules/gifski/bin/debian/gifski

# Our GIF/WebM/MP4 against gifski 1.7.1 (npm, installed here into bench/.tools),
# ImageMagick + gifsicle (apt-get install imagemagick gifsicle) and ffmpeg; a tool
# that is not installed is reported as missing. The corpus renders once (slow).
bench-animation: $(STAMP)
	@test -x $(GIFSKI) || npm install --prefix bench/.tools gifski@1.7.1 >/dev/null 2>&1 \
		|| echo "could not install gifski with npm: it will be reported as missing" >&2
	$(BIN)/python -m bench.animation $(BENCH_ARGS)

# The same corpus as bench-build, built by the local pool and on a Dask cluster of
# 1 and 2 workers on this machine (DASK_ARGS="--sets 4" for a quick look).
bench-dask: $(STAMP)
	$(BIN)/python -m bench.dask $(DASK_ARGS)

clean:  ## remove generated outputs
	rm -rf output

distclean: clean
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
