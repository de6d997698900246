# The two commands: `make serve` and `make test`. Both set up everything they need and are
# quick when nothing changed (stamps keyed on the files that define each step).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUN := .run
DEPS_STAMP := $(VENV)/.deps-installed
EXTRAS := serve,export,dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help deps export serve test rollout rollback rehearse lint typecheck security kubernetes pytest accuracy bench bench-avx2 bench-models bench-features report bench-gate bench-gate-baseline load soak scaleout rollout-bench realtime-bench perf-analyzer fuzz connections clean

help:
	@echo "make serve   set up, export the models if needed, start Triton and the gateway on 127.0.0.1"
	@echo "make test    set up, export the models if needed, run lint, type checks, all tests and the benchmark gate"
	@echo "make bench   the full benchmark (perf/results/bench.md)"
	@echo "make accuracy   the comparisons with faster-whisper over whole datasets (make test runs smaller ones)"
	@echo "make bench-models   the model table (perf/results/models/table.md)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(DEPS_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

# Debian packages the tests need: Prometheus with promtool, Alertmanager's amtool, Chromium (the live page's
# headless-browser test), a C compiler (perf/avx2_host.c), and kubectl (renders the
# Kubernetes manifests) unless one is on PATH already. Installed only when missing.
APT_PACKAGES := prometheus prometheus-alertmanager chromium gcc libc6-dev $(if $(shell command -v kubectl),,kubernetes-client)

$(RUN)/apt-installed: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi
	mkdir -p $(RUN) && touch $@

deps: $(DEPS_STAMP) $(RUN)/apt-installed

# The exporter checks its manifest and returns at once when the repository is up to date.
export: deps
	$(PY) -m export

DEV_KEY := $(RUN)/dev-api-key
# The banner's example command names the shared test audio where it lies beside the checkout.
EXAMPLE_AUDIO := $(wildcard ../shared/audio/jfk.flac)

# A development API key, made once and kept in .run/ (git-ignored).
$(DEV_KEY): | $(PY)
	mkdir -p $(RUN)
	$(PY) -c 'import secrets; print("dev-" + secrets.token_urlsafe(24))' > $@
	chmod 600 $@

serve: export $(DEV_KEY)
	@echo "Development API key: $$(cat $(DEV_KEY))  (kept in $(DEV_KEY))"
	DATTAVANI_API_KEYS="$$(cat $(DEV_KEY))" $(PY) -m gateway --start-triton --dev-key-file $(DEV_KEY) \
	  $(if $(EXAMPLE_AUDIO),--example-audio $(EXAMPLE_AUDIO))

lint: deps
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: deps
	$(VENV)/bin/mypy

# bandit (config in pyproject.toml) and semgrep with the project's own rules, offline. semgrep gets a venv
# of its own: it pins protobuf and OpenTelemetry versions that tritonclient and our tracing cannot share.
PACKAGES := whisper_runtime export triton_models triton_server gateway batch_client devstack perf
SEMGREP := $(RUN)/tools/semgrep/bin/semgrep
SEMGREP_VERSION := 1.185.0

$(SEMGREP):
	$(PYTHON) -m venv $(RUN)/tools/semgrep
	$(RUN)/tools/semgrep/bin/pip install --quiet semgrep==$(SEMGREP_VERSION)

security: deps $(SEMGREP)
	$(VENV)/bin/bandit -q -c pyproject.toml -r $(PACKAGES)
	SEMGREP_ENABLE_VERSION_CHECK=0 $(SEMGREP) scan --config .semgrep/rules.yml --metrics=off \
	  --disable-version-check --error --quiet $(PACKAGES)

# The Kubernetes manifests (deploy/kubernetes): each overlay rendered, every object validated strictly against the
# schemas of Kubernetes $(KUBERNETES_VERSION) (bundled in kubernetes-validate) and scanned by checkov, offline
# (justified skips are annotations on the objects); tests/test_kubernetes.py checks them against the code. checkov
# gets a venv of its own, as semgrep does: its pins clash with ours.
KUBERNETES_VERSION := 1.37.0
KUBERNETES_OVERLAYS := cpu gpu
KUBERNETES_RENDERED := $(RUN)/kubernetes
CHECKOV := $(RUN)/tools/checkov/bin/checkov
CHECKOV_VERSION := 3.3.30

$(CHECKOV):
	$(PYTHON) -m venv $(RUN)/tools/checkov
	$(RUN)/tools/checkov/bin/pip install --quiet checkov==$(CHECKOV_VERSION)

$(KUBERNETES_RENDERED)/checked: $(shell find deploy/kubernetes -type f) Makefile $(DEPS_STAMP) $(RUN)/apt-installed | $(CHECKOV)
	mkdir -p $(KUBERNETES_RENDERED)
	for overlay in $(KUBERNETES_OVERLAYS); do \
	  kubectl kustomize deploy/kubernetes/overlays/$$overlay > $(KUBERNETES_RENDERED)/$$overlay.yaml || exit 1; \
	done
	$(VENV)/bin/kubernetes-validate --strict --quiet -k $(KUBERNETES_VERSION) $(KUBERNETES_OVERLAYS:%=$(KUBERNETES_RENDERED)/%.yaml)
	$(CHECKOV) --framework kubernetes --quiet --compact --skip-download \
	  $(KUBERNETES_OVERLAYS:%=-f $(KUBERNETES_RENDERED)/%.yaml)
	touch $@

kubernetes: deps $(KUBERNETES_RENDERED)/checked

# Every test but the `accuracy` ones, with coverage of gateway/, batch_client/, devstack/, export/ and whisper_runtime/
# (subprocesses included; settings in pyproject.toml), failing below 95%.
pytest: export
	rm -rf $(RUN)/coverage && mkdir -p $(RUN)/coverage
	$(VENV)/bin/coverage run -m pytest -m "not accuracy"
	$(VENV)/bin/coverage combine -q
	$(VENV)/bin/coverage report

# The accuracy checks over whole datasets (marked `accuracy`; make test runs smaller ones): the multilingual error
# rate against faster-whisper's and language detection through the gateway on all 20 clips, word times against
# faster-whisper's on all of LibriSpeech and eval-short (about 4.5 minutes on 2 cores).
accuracy: export
	$(VENV)/bin/pytest -m accuracy

# The regression gate run by CI: transcripts and WER on LibriSpeech through the service (deterministic at
# concurrency 1), plus a loose throughput smoke at concurrency 4, against the committed baseline.
GATE_ARGS := --targets gateway,triton,runtime --datasets librispeech --concurrency 1,4
GATE_BASELINE := perf/baselines/ci-librispeech.json

bench-gate: export
	$(PY) -m perf.bench $(GATE_ARGS) --no-report --out $(RUN)/bench-gate/result.json
	$(PY) -m perf.regress $(RUN)/bench-gate/result.json $(GATE_BASELINE)

# Record a new gate baseline (commit it with the change that explains it).
bench-gate-baseline: export
	$(PY) -m perf.bench $(GATE_ARGS) --no-report --out $(GATE_BASELINE)

# The full benchmark: every target side by side, int8 and fp32, 3 interleaved repeats (about an hour
# on 2 cores), then the model table (bench-models, about 50 minutes); the reports for this machine are committed.
bench: export
	$(PY) -m perf.bench --datasets librispeech,eval-short,eval-long --precisions int8,fp32 --concurrency 1,4,8 \
	  --out perf/results/bench.json
	$(MAKE) bench-models
	$(MAKE) bench-features

# The benchmark as on an AVX2-only CPU (docs/performance.md, "Per host"): every process sees CPUID without AVX512,
# VNNI or AMX (perf/avx2_host.py; needs the cpuid_fault CPU flag), so ONNX Runtime, CTranslate2 and numpy run their
# AVX2 kernels: issue #18's run (the gateway at concurrency 4 against the bare runtime and faster-whisper's three
# forms, int8 and fp32, on LibriSpeech; about 6 minutes on 2 cores). Writes perf/results/avx2/bench.{json,md}.
bench-avx2: export
	$(PY) -m perf.avx2_host $(PY) -m perf.bench --targets gateway,runtime,faster-whisper --datasets librispeech \
	  --precisions int8,fp32 --concurrency 4 --repeats 2 --out perf/results/avx2/bench.json

# The model table (README, docs/performance.md): each model through the gateway against faster-whisper on the same
# weights, int8 and fp32, concurrency 1 and 4: tiny.en on LibriSpeech and eval-short, base on LibriSpeech and the
# multilingual set (about 40 minutes in all on 2 cores); one run per model.
MODEL_BENCH_ARGS := --targets gateway,faster-whisper --precisions int8,fp32 --concurrency 1,4 --repeats 2 --no-report
MODEL_RESULTS := perf/results/models

bench-models: export
	mkdir -p $(MODEL_RESULTS)
	$(PY) -m perf.bench --model whisper-tiny.en --datasets librispeech,eval-short $(MODEL_BENCH_ARGS) \
	  --out $(MODEL_RESULTS)/whisper-tiny.en.json
	$(PY) -m perf.bench --model whisper-base --datasets librispeech,multilingual $(MODEL_BENCH_ARGS) \
	  --out $(MODEL_RESULTS)/whisper-base.json
	$(PY) -m perf.model_table $(MODEL_RESULTS)/whisper-tiny.en.json $(MODEL_RESULTS)/whisper-base.json \
	  --out $(MODEL_RESULTS)/table.md

# What request features cost: the same request with and without each (perf/feature_cost.py CASES; now
# chunking_strategy=auto on LibriSpeech padded with minutes of silence and noise), about 2 minutes; writes
# perf/results/feature_cost.{json,md}.
bench-features: export
	$(PY) -m perf.feature_cost

# The report again from perf/results/bench.json and the perf_analyzer, load and soak results beside it.
report: deps
	$(PY) -m perf.report

# Load test (8 clients, 60 s), soak (4 clients, 20,000 requests after 200 warm-up ones; RSS sampled every 30 s),
# perf_analyzer runs.
load: export
	$(PY) -m perf.load --clients 8 --duration-s 60

soak: export
	$(PY) -m perf.load --clients 4 --duration-s 36000 --requests 20000 --out perf/results/soak.json

perf-analyzer: export
	$(PY) -m perf.perf_analyzer

# Scale-out (docs/performance.md): two Tritons behind one gateway, 8 clients for 60 s; one Triton killed at a third
# and started again on its ports at two thirds; no request may fail. Writes perf/results/scaleout.{json,md}.
scaleout: export
	$(PY) -m perf.scaleout failover --clients 8 --duration-s 60

# Model rollout under load (docs/performance.md): 4 clients for 60 s on one Triton and a gateway over a hard-linked copy
# of tiny.en's export; rollout to fp32, rollback, then a corrupted and a truncated version refused. Writes
# perf/results/rollout.{json,md}.
rollout-bench: export
	$(PY) -m perf.scaleout rollout --clients 4 --duration-s 60

# Live transcription: the shared clips streamed to /v1/realtime at real time, 1 session then 20 at once;
# first-delta and completed latencies, and a session past the limit refused. Writes perf/results/realtime.{json,md}.
realtime-bench: export
	$(PY) -m perf.realtime --sessions 20 --max-sessions 20

# 1000 clients connecting at once, each sent again after its 429's Retry-After until transcribed
# (make test runs the single-attempt version: tests/perf/test_connections.py).
connections: export
	$(PY) -m perf.connections --connections 1000 --retry

# Fuzzing (docs/security.md): FUZZ_INPUTS fuzzed uploads through a real Triton and gateway (python -m fuzzing.runner),
# then atheris on decode_audio for FUZZ_DECODE_SECONDS. Both always run; the target fails if either found something.
FUZZ_INPUTS ?= 10000
FUZZ_DECODE_SECONDS ?= 300

fuzz: export
	status=0; \
	$(PY) -m fuzzing.runner --inputs $(FUZZ_INPUTS) || status=1; \
	$(PY) -m fuzzing.decode_target -max_total_time=$(FUZZ_DECODE_SECONDS) || status=1; \
	exit $$status

test: lint typecheck security kubernetes pytest bench-gate

# Zero-downtime model rollout on the local Triton (`make serve`; docs/operations.md): stage version N+1 of MODEL
# in PRECISION from the export and switch to it, watching the local gateway switch; rollback returns to the
# version below (or VERSION) and deletes the newer ones.
MODEL ?= whisper-tiny.en
PRECISION ?= fp32
ROLLOUT_ARGS = --model $(MODEL) --gateway http://127.0.0.1:8080 --api-key "$$(cat $(DEV_KEY))"

rollout: deps
	$(PY) -m triton_server.rollout rollout --precision $(PRECISION) $(ROLLOUT_ARGS)

rollback: deps
	$(PY) -m triton_server.rollout rollback $(if $(VERSION),--version $(VERSION)) $(ROLLOUT_ARGS)

# CI rehearsed on a slower host: a clean clone of HEAD runs .ci/run with one core kept busy (RUNS times in a row).
RUNS ?= 2
rehearse:
	.ci/rehearse $(RUNS)

clean:
	find model_repository -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf $(RUN)
