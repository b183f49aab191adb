# Two entry points: `make run` serves on 127.0.0.1:8001, `make test` runs the suite.
# Both create .venv and install what they need, system packages included.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test clients lint bench-accuracy bench-latency bench-throughput bench-scaling bench-stages bench-analyze clean

$(STAMP): pyproject.toml constraints.txt scripts/install-system-packages.sh
	bash scripts/install-system-packages.sh
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' -c constraints.txt
	GAZEPIPE_MODEL=pruned $(PY) -m gazepipe.model  # derives the pruned landmark model into its cache folder (models/README.md)
	touch $(STAMP)

run: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start

# Lint, the browser client and the Next.js example come first, so that pytest's summary closes the run.
test: $(STAMP) lint clients
	$(VENV)/bin/pytest

clients:
	bash scripts/build-clients.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check src workers tests benchmarks fuzz deploy
	$(VENV)/bin/mypy

# Accuracy on the shared real data (docs/accuracy.md), the held-out halves: faces-wild and faces/ against GazeTracking's
# method, CEW eye state, then faces-helen-afw (62 and 45 px; vertical moves at 62 px) and the Columbia eyes.
DATA ?= ../shared/data
bench-accuracy: $(STAMP)
	$(PY) benchmarks/accuracy.py --faces $(DATA)/faces-wild --faces $(DATA)/faces --eyes $(DATA)/cew-eyes --baseline
	$(PY) benchmarks/accuracy.py --faces $(DATA)/faces-helen-afw --columbia $(DATA)/columbia-eyes --sizes 62 45 \
		--set helen helen_moved --jobs 2
	$(PY) benchmarks/accuracy.py --faces $(DATA)/faces-helen-afw --sizes 62 --set helen_vertical --jobs 2

# Speed benchmarks (docs/performance.md): each starts the service as `make run` does, on a free loopback port.
bench-latency: $(STAMP)
	$(PY) benchmarks/latency.py --clients 20 --fps 10 --duration 10 --mode binary
	$(PY) benchmarks/latency.py --clients 20 --fps 10 --duration 10 --mode text

bench-throughput: $(STAMP)
	$(PY) benchmarks/throughput.py --plot docs/throughput.png

bench-scaling: $(STAMP)
	$(PY) benchmarks/scaling.py

bench-stages: $(STAMP)
	$(PY) benchmarks/stages.py --check
	$(PY) benchmarks/stages.py

bench-analyze: $(STAMP)
	$(PY) benchmarks/analyze_speed.py

clean:
	rm -rf $(VENV) build src/*.egg-info
