# Set-up is two commands: `make run` (build the bundled sample) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLI := $(BIN)/muscle-assets
M ?=

.PHONY: run build muscle check list test test-site test-install lint format lock docs-img bench bench-build bench-tools bench-animation bench-web bench-gifski bench-memory bench-dask clean distclean sample

# Python is checked before anything is made. The stamp is written last: a .venv
# without it (a failed or interrupted set-up) is removed and made again, and a
# failed install removes what it made. (A venv cannot be made elsewhere and moved:
# its scripts name their interpreter by absolute path.)
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "make: muscle-assets needs Python 3.11 or newer; '$(PYTHON)' is" \
	    "$$($(PYTHON) --version 2>/dev/null || echo 'not found'). Try: make run PYTHON=python3.12" >&2; \
	    exit 2; }
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	{ $(BIN)/python -m pip install --quiet --upgrade pip && \
	  $(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'; } || \
	  { rm -rf $(VENV); exit 1; }
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

test-site: $(STAMP)  ## only the tests that need jekyll and chromium (they skip when missing)
	$(BIN)/python -m pytest -q -m e2e tests/test_site_e2e.py tests/test_init.py

test-install: $(STAMP)  ## pip install . into a fresh venv, then init, build, jekyll build (slow)
	MUSCLE_ASSETS_TEST_INSTALL=1 $(BIN)/python -m pytest -q tests/test_init.py -k pip_install

lock: $(STAMP)  ## rewrite requirements.lock from the installed versions
	{ sed -n '/^#/p' requirements.lock; $(BIN)/python -m pip freeze --exclude-editable; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The README's picture: the sample's preview, shot by headless Chromium, quantised.
SHOT_ROOT := /tmp/muscle-atlas/assets/images
docs-img: $(STAMP)  ## regenerate docs/img/preview.png (needs chromium and pngquant)
	rm -rf /tmp/muscle-atlas
	$(CLI) build -q --output $(SHOT_ROOT)
	$(CLI) preview -q --output $(SHOT_ROOT)
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=900,640 \
	  --user-data-dir=/tmp/muscle-atlas/chromium --screenshot=/tmp/muscle-atlas/shot.png \
	  file://$(SHOT_ROOT)/preview/index.html
	pngquant --quality 60-85 --speed 1 --force --output docs/img/preview.png /tmp/muscle-atlas/shot.png

sample: $(STAMP)  ## regenerate raw/ from the renderer
	$(BIN)/python scripts/render_sample.py --out raw

bench: bench-build bench-animation bench-web bench-memory bench-dask  ## every benchmark (results in bench/results/)

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
bench-animation: $(STAMP) bench-gifski
	$(BIN)/python -m bench.animation $(BENCH_ARGS)

bench-gifski:
	@test -x $(GIFSKI) || npm install --prefix bench/.tools gifski@1.7.1 >/dev/null 2>&1 \
		|| echo "could not install gifski with npm: it will be reported as missing" >&2

# Issue 12's web-weight benchmark: realistic renders (generated once into
# bench/corpus-web), our build against the reference recipe (bench/recipe.sh:
# vipsthumbnail, cwebp, pngquant, gifski, ffmpeg) on all cores, quality with
# scikit-image and ssimulacra2 (pip, the `bench` extra). WEB_ARGS="--sets 2" is quick.
bench-web: $(STAMP) bench-gifski
	@$(BIN)/python -c 'import skimage, ssimulacra2' 2>/dev/null || \
	  $(BIN)/python -m pip install --quiet -c requirements.lock -e '.[bench]'
	-@command -v cwebp >/dev/null && command -v vipsthumbnail >/dev/null && \
	  command -v pngquant >/dev/null && command -v ffmpeg >/dev/null || \
	  { test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
	    apt-get install -y --no-install-recommends webp libvips-tools pngquant ffmpeg >/dev/null 2>&1; } || \
	  echo "bench-web: install webp, libvips-tools, pngquant and ffmpeg (Debian) for the recipe"
	$(BIN)/python -m bench.web $(WEB_ARGS)

# Peak memory (process tree) of one set of 16 frames of 8000x8000 at --jobs 1 and
# at all cores, and the time of the two reads of each frame. The set is generated
# once into bench/corpus/.
bench-memory: $(STAMP)
	$(BIN)/python -m bench.memory $(MEMORY_ARGS)

# The same corpus as bench-build, built by the local pool and on a Dask cluster of
# 1 and 2 workers on this machine (DASK_ARGS="--sets 4" for a quick look).
bench-dask: $(STAMP)
	$(BIN)/python -m bench.cluster $(DASK_ARGS)

clean:  ## remove generated outputs
	rm -rf output

distclean: clean
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
