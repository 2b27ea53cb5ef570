# Set-up and the two everyday commands (README.md):
#   make run    set up everything, then run the main job
#   make test   set up everything, then run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PKUSEG_DIR := models/pkuseg/default
SEED := ../shared/corpus/seed/000_0b63caf340faed07.txt

.PHONY: setup run test evaluate bench bench-bulk clean

setup: $(VENV)/.installed $(PKUSEG_DIR)/weights.npz

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned: any other spec pulls a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# spacy-pkuseg cannot download its model here; the `default` model ships inside
# the PyPI sdist of pkuseg 0.0.25, fetched with a throw-away build environment.
$(PKUSEG_DIR)/weights.npz: $(VENV)/.installed
	$(PYTHON) -m venv .cache/pkuseg-env
	.cache/pkuseg-env/bin/pip install --quiet numpy cython wheel 'setuptools<70'
	.cache/pkuseg-env/bin/pip download --quiet --no-deps --no-build-isolation pkuseg==0.0.25 -d .cache/pkuseg-sdist
	mkdir -p models/pkuseg
	tar -xzf .cache/pkuseg-sdist/pkuseg-0.0.25.tar.gz -C .cache/pkuseg-sdist pkuseg-0.0.25/pkuseg/models/default
	rm -rf $(PKUSEG_DIR) && mv .cache/pkuseg-sdist/pkuseg-0.0.25/pkuseg/models/default $(PKUSEG_DIR)
	$(PY) -m service.segmenter_model $(PKUSEG_DIR)
	touch $@
	test -f $@

run: setup
	$(VENV)/bin/govmetrics extract $(SEED) --format table

test: setup
	$(PY) -m pytest

evaluate: setup
	$(VENV)/bin/govmetrics evaluate

bench: setup
	$(PY) bench/extract_bench.py

bench-bulk: setup
	$(PY) bench/bulk_bench.py

clean:
	rm -rf $(VENV) .cache models/pkuseg
