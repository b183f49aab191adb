# Two entry points: `make run` serves on 127.0.0.1:8001, `make test` runs the suite.
# Both create .venv and install what they need, system packages included.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test clients lint bench-accuracy bench-latency bench-throughput bench-scaling clean

$(STAMP): pyproject.toml constraints.txt scripts/install-system-packages.sh
	bash scripts/install-system-packages.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' -c constraints.txt
	$(PY) -m gazepipe.model  # derives the workers' pruned landmark model into its cache folder (models/README.md)
	touch $(STAMP)

run: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start

# Lint, the browser client and the Next.js example come first, so that pytest's summary closes the run.
test: $(STAMP) lint clients
	$(VENV)/bin/pytest

clients:
	bash scripts/build-clients.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src workers tests benchmarks fuzz deploy models
	$(VENV)/bin/mypy

# Speed benchmarks (docs/performance.md): each starts the service as `make run` does, on a free loopback port.
bench-latency: $(STAMP)
	$(PY) benchmarks/latency.py --clients 20 --fps 10 --duration 10 --mode binary
	$(PY) benchmarks/latency.py --clients 20 --fps 10 --duration 10 --mode text

bench-throughput: $(STAMP)
	$(PY) benchmarks/throughput.py --plot docs/throughput.png

bench-scaling: $(STAMP)
	$(PY) benchmarks/scaling.py

clean:
	rm -rf $(VENV) build src/*.egg-info
