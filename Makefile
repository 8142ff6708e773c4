# Two commands on a fresh Debian machine: `make run` and `make test`.
# Each creates .venv when missing, installs the system packages it needs when missing,
# installs requirements.txt, then runs the app or the whole test suite.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.requirements-installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get
PORT   ?= 8501

.PHONY: run test test-fast lint bench setup system-build system-browser system-r clean

run: setup system-browser
	$(VENV)/bin/streamlit run app.py --server.port $(PORT) --server.headless true

test: setup system-browser lint
	$(PY) -m pytest

# lint (ruff.toml) and type checking (mypy.ini), both part of `make test`
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# the quick subset (no browser, no slow cases), for development
test-fast: setup
	$(PY) -m pytest -m "not slow and not browser"

bench: setup system-r
	$(PY) -m bench.run

setup: $(STAMP)

$(STAMP): requirements.txt | system-build
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV) 2>/dev/null || \
	  { rm -rf $(VENV); $(APT) update -qq && $(APT) install -y -qq python3-venv >/dev/null && \
	    $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

# SuiteSparse headers for scikit-sparse, a compiler and Python headers for the build
system-build:
	@dpkg -s libsuitesparse-dev >/dev/null 2>&1 && command -v gcc >/dev/null || \
	  { $(APT) update -qq && $(APT) install -y -qq libsuitesparse-dev gcc python3-dev >/dev/null; }

# Debian's chromium for the real-browser test (Playwright's own download does not work offline)
# and for the figures of the reports (Kaleido draws them with it)
system-browser:
	@command -v chromium >/dev/null || { $(APT) update -qq && $(APT) install -y -qq chromium >/dev/null; }

# R with lme4, lmerTest, pbkrtest, emmeans and mlmRev (its data), timed side by side with
# mm_core by `make bench`
R_PACKAGES := lme4 lmerTest pbkrtest emmeans car mlmRev
system-r:
	@command -v Rscript >/dev/null && \
	  Rscript -e 'for (p in commandArgs(TRUE)) library(p, character.only = TRUE)' $(R_PACKAGES) >/dev/null 2>&1 || \
	  { $(APT) update -qq && $(APT) install -y -qq r-base-core \
	      $(foreach p,$(R_PACKAGES),r-cran-$(shell echo $(p) | tr A-Z a-z)) >/dev/null; }

clean:
	rm -rf $(VENV) .pytest_cache tests/artifacts
