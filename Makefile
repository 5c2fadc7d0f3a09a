# Vigie: `make demo` runs the platform on http://127.0.0.1:8000; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_INSURED ?= 100000
DEMO_PROFESSIONALS ?= 2000
export VIGIE_KEYS ?= var/keys.json
export VIGIE_DATABASE_URL ?= sqlite:///var/vigie.db
# The demo's signed tree heads are also appended here, outside the database (demo targets only:
# tests and benchmarks use databases of their own).
HEADS ?= var/heads.jsonl
# The portal's browser test drives Debian's Chromium; installed here when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo demo-incident test lint types unit bench clean

$(STAMP): pyproject.toml setup.py src/vigie/guard/_speedups.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vigie keys init
	@if [ ! -f var/.seeded ]; then \
		$(BIN)/vigie seed --insured $(DEMO_INSURED) --professionals $(DEMO_PROFESSIONALS) --out var/seed && touch var/.seeded; \
	fi
	$(BIN)/vigie demo-request
	VIGIE_AUDIT_HEADS_FILE=$(HEADS) VIGIE_COOKIE_SECURE=false $(BIN)/vigie serve --host 127.0.0.1 --port 8000

# While the demo runs (another terminal): a phished account's questions, the incident's scope from
# the access log, the CNIL notification and the letters, in var/incident/.
demo-incident: $(STAMP)
	VIGIE_AUDIT_HEADS_FILE=$(HEADS) $(BIN)/vigie demo-incident
	VIGIE_AUDIT_HEADS_FILE=$(HEADS) $(BIN)/vigie audit sign
	VIGIE_AUDIT_HEADS_FILE=$(HEADS) $(BIN)/vigie audit verify

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools setup.py
	$(BIN)/ruff format --check src tests bench tools setup.py

types: $(STAMP)
	$(BIN)/mypy

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "Chromium manquant ($(CHROMIUM)) et pas d'apt-get : installez-le"; exit 1; }
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
		|| { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }
	@test -x $(CHROMIUM) || { echo "Chromium absent de $(CHROMIUM) après installation"; exit 1; }

unit: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest -n 2 --dist loadfile -q

test: lint types unit

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
