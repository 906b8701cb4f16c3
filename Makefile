# facepipe: `make demo` and `make test` are all a new user needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Airflow's own defaults (AIRFLOW_HOME=$FACEPIPE_HOME/airflow, this project's dags/ and
# plugins/, no example DAGs) are facepipe's, not the Makefile's: every `facepipe` command
# applies them where the environment sets none (facepipe.ops.local_airflow.airflow_defaults).
export FACEPIPE_HOME ?= $(CURDIR)/.facepipe
export PYTHONPATH := $(CURDIR)/plugins

.PHONY: install lint demo test airflow cluster cluster-stop bench bench-video bench-web bench-search lock status stop-db clean

# One virtualenv with every version pinned by constraints.txt.
$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

# facepipe itself is installed editable from plugins/ (pyproject.toml): the console
# script `facepipe`, `python -m facepipe`, and the Airflow plugin entry point all
# work outside make, and an edit needs no reinstall.
install: $(VENV)/.installed $(VENV)/.facepipe

$(VENV)/.facepipe: pyproject.toml | $(VENV)/.installed
	@rm -f "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/facepipe-plugins.pth"
	$(BIN)/pip install --quiet --no-deps -e .
	@rm -rf plugins/facepipe.egg-info  # left by builds before pyproject.toml's egg_base (a second plugin)
	touch $@

demo: install
	$(BIN)/python -m facepipe demo

# ruff (lint and format), import-linter's layer contracts (pyproject.toml), and every
# relative link and #anchor of the markdown files (docs/check_links.py).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd plugins && ../$(BIN)/lint-imports --config ../pyproject.toml --no-cache
	$(BIN)/python docs/check_links.py

test: lint
	$(BIN)/python -m pytest

# Airflow's api-server, scheduler, dag-processor and triggerer on 127.0.0.1:8080
# (FACEPIPE_AIRFLOW_HOST / FACEPIPE_AIRFLOW_PORT); Ctrl+C stops all of them.
airflow: install
	$(BIN)/python -m facepipe airflow

# CeleryExecutor on this machine, shaped as several: redis, PostgreSQL over TCP with
# passwords, api-server, scheduler, dag-processor, triggerer and two Celery workers with
# folders of their own, all on 127.0.0.1 (docs/operating.md "On this machine: make cluster"). Needs redis-server.
cluster: install
	$(BIN)/python -m cluster start

cluster-stop: install
	$(BIN)/python -m cluster stop

bench: install
	$(BIN)/python bench/run.py

bench-video: install  # videos: sampled against every frame, 1080p and 4K (BENCHMARKS.md section 11, minutes)
	$(BIN)/python bench/video.py --seconds 10

bench-web: install  # the Faces view at 1M faces / 30,000 identities (BENCHMARKS.md section 10)
	$(BIN)/python bench/web.py

# BENCHMARKS.md section 14 at a small size (a few minutes): the search over every day through
# search_faces (the IVF, and the exact path beside it). Full size: see there.
bench-search: install
	$(BIN)/python bench/search_ivf.py --faces 30000 --shapes 3000 --probes 64,128 --queries 30 \
		--exact-queries 10 --out search_ivf_quick

status: install
	$(BIN)/python -m facepipe status

stop-db: install
	$(BIN)/python -m facepipe stop-db

# Re-pin every transitive version after changing requirements*.txt.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -r requirements-dev.txt
	.venv-lock/bin/pip freeze > constraints.txt && rm -rf .venv-lock

clean: stop-db
	rm -rf $(FACEPIPE_HOME)
