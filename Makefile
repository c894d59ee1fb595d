# The README's commands. Each one creates the virtual environment (.venv) from the lock file
# (uv.lock) on first use, so a fresh clone needs nothing but Python 3.10+ and make.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# uv installs the locked versions; it is itself installed, pinned, into .cache on first use.
UV_VERSION := 0.13.9
UV := .cache/uv-$(UV_VERSION)/bin/uv
# The CPU instruction-set cap for `make test` and `make execute` (see scripts/pinned_platform.py):
# AVX2, the one the stored outputs were made with, unless you ask for another (ISA=AVX, say).
ISA ?= AVX2
export COURSE_CPU_ISA := $(ISA)
export UV_PYTHON_DOWNLOADS := never
# Compile every installed module to bytecode once, at install time: where PYTHONDONTWRITEBYTECODE is
# set (as on the CI machine), Python otherwise re-reads TensorFlow from source in every notebook
# kernel, about 13 s each.
export UV_COMPILE_BYTECODE := 1

.PHONY: book test test-floor test-newest execute tolerances bench lock clean

$(UV):
	python3 -m venv .cache/uv-$(UV_VERSION)
	.cache/uv-$(UV_VERSION)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(INSTALLED): uv.lock pyproject.toml | $(UV)
	$(UV) sync --quiet --locked --extra book --extra test --python python3
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

# The supported range outside the lock: the oldest versions of the course's packages that
# pyproject.toml allows, or the newest releases, in their own environment. Stored outputs are not compared (nbval's lax mode): every
# cell must run and the hidden assertion cells must pass.
test-floor: RESOLUTION := lowest-direct
test-newest: RESOLUTION := highest
test-floor test-newest: | $(UV)
	rm -rf .venv-$@ && $(UV) venv --quiet --python python3 .venv-$@
	VIRTUAL_ENV=$(CURDIR)/.venv-$@ $(UV) pip install --quiet --refresh --resolution $(RESOLUTION) -e .
	@# The tools (nbval, pytest, Jupyter Book) at their newest that fit the course's own packages,
	@# which stay at the versions just installed: those of pyproject.toml's `dependencies`.
	VIRTUAL_ENV=$(CURDIR)/.venv-$@ $(UV) pip freeze | grep -i -E "^($$(sed -n \
		'/^dependencies = \[/,/^]/s/^ *"\([A-Za-z0-9_-]*\).*/\1/p' pyproject.toml | paste -sd'|'))==" \
		> .venv-$@/course-packages.txt
	VIRTUAL_ENV=$(CURDIR)/.venv-$@ $(UV) pip install --quiet -e ".[book,test]" --constraint .venv-$@/course-packages.txt
	VIRTUAL_ENV=$(CURDIR)/.venv-$@ $(UV) pip list | grep -E -i "^(tensorflow|keras|numpy) "
	@# Not here: the website (needs `make book`) and the table of Keras's own error messages,
	@# whose wording changes between releases (tests/bad_inputs.md holds the locked one).
	.venv-$@/bin/python -m pytest helpers scripts tests book --ignore=tests/test_website.py \
		--deselect tests/test_bad_inputs.py::test_the_table_in_bad_inputs_md_is_current \
		-o addopts="--doctest-modules --nbval-lax --nbval-current-env -p no:cacheprovider"

execute: $(INSTALLED)  ## re-run notebooks in place on the CPU (NOTEBOOKS="book/ch12/x.ipynb" for some)
	$(PYTHON) scripts/execute_notebooks.py $(NOTEBOOKS)

tolerances: $(INSTALLED)  ## with ISA=AVX (say): measure how far outputs move on another CPU; WRITE=--write states them
	$(PYTHON) scripts/measure_tolerances.py $(WRITE) $(NOTEBOOKS)

bench: $(INSTALLED)  ## time fit(), the eager loop, helpers.train and the fused reference
	$(PYTHON) bench/training_speed.py

lock: $(UV)  ## refresh uv.lock to the newest releases that pyproject.toml allows; then run `make execute`
	$(UV) lock --upgrade

clean:
	rm -rf _build
