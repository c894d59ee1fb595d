# The README's commands. Each one creates the virtual environment (.venv) and installs what it
# needs on first use, so a fresh clone needs nothing but Python 3.10+ and make.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: book test execute bench clean

$(INSTALLED): pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[book,test]"
	touch $@

book: $(INSTALLED)  ## build the website into _build/html (zero warnings allowed)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going

test: $(INSTALLED)  ## run every test: helpers, doctests, workflows, nbval on every notebook, the website in Chromium
	@# The browser tests need /usr/bin/chromium: install it where we can (root with apt-get); elsewhere
	@# tests/test_website.py skips, saying why (and fails in CI, where CI=true).
	@if [ ! -e /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "Installing Chromium for the browser tests (apt-get) ..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
			>/dev/null 2>&1 || echo "Could not install Chromium with apt-get; the browser tests will say so."; \
	fi
	$(PYTHON) -m pytest

execute: $(INSTALLED)  ## re-run notebooks in place on the CPU (NOTEBOOKS="book/ch12/x.ipynb" for some)
	$(PYTHON) scripts/execute_notebooks.py $(NOTEBOOKS)

bench: $(INSTALLED)  ## time fit(), the eager loop, helpers.train and the fused reference
	$(PYTHON) bench/training_speed.py

clean:
	rm -rf _build
