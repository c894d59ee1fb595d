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

test: $(INSTALLED)  ## run every test: helpers, doctests, workflows, nbval on every notebook
	$(PYTHON) -m pytest

execute: $(INSTALLED)  ## re-run notebooks in place on the CPU (NOTEBOOKS="book/ch12/x.ipynb" for some)
	$(PYTHON) scripts/execute_notebooks.py $(NOTEBOOKS)

bench: $(INSTALLED)  ## time fit(), the eager loop, helpers.train and the fused reference
	$(PYTHON) bench/training_speed.py

clean:
	rm -rf _build
