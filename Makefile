# One command each, on a fresh machine with Python 3.11 (make test also needs root or the
# packages named in scripts/setup.sh).
PY := .venv/bin/python

.PHONY: run test check unit integration bench bench-compare eval eval-analysis kafka-up kafka-down postgres-up postgres-down clean

run: .venv/.installed          ## the worker, with the embedded broker unless KAFKA_BOOTSTRAP_SERVERS is set
	.venv/bin/bifrost-worker

test:                          ## every test: lint and types, unit, then integration on Apache Kafka + PostgreSQL
	bash scripts/setup.sh all
	$(MAKE) --no-print-directory check
	$(PY) -m pytest -q

check:                         ## lint (ruff: pyflakes and pycodestyle rules) and types of the pure cores (mypy)
	$(PY) -m ruff check --select E,F,W --line-length 100 bifrost_streams agents tables tests benchmarks
	$(PY) -m mypy bifrost_streams/analysis bifrost_streams/providers bifrost_streams/mining \
		bifrost_streams/alerts bifrost_streams/redaction bifrost_streams/evaluation \
		bifrost_streams/bounds.py bifrost_streams/model_budget.py bifrost_streams/token_bucket.py \
		bifrost_streams/wire.py

unit: .venv/.installed
	$(PY) -m pytest -q -m "not integration"

integration:
	bash scripts/setup.sh all
	$(PY) -m pytest -q -m integration

bench:                         ## throughput and latency ratios, one run, one broker
	bash scripts/setup.sh all
	$(PY) -m benchmarks.pipeline
	$(PY) -m benchmarks.redaction

bench-compare:                 ## the cache path of OLD=<another checkout> against this one, alternated
	$(PY) -m benchmarks.compare $(OLD)

eval: .venv/.installed          ## template mining on ../shared/data/loghub (or EVAL_DIRS): accuracy, calls, speed
	$(PY) -m bifrost_streams.mining.evaluate $(EVAL_DIRS)

eval-analysis: .venv/.installed ## analyses on the labelled corpus and BGL: family, severity, grounding (EVAL_ARGS=--smollm2)
	$(PY) -m bifrost_streams.evaluation.analysis $(EVAL_ARGS)

kafka-up:
	bash scripts/kafka.sh start
kafka-down:
	bash scripts/kafka.sh stop
postgres-up:
	bash scripts/postgres.sh start
postgres-down:
	bash scripts/postgres.sh stop

.venv/.installed: setup.cfg pyproject.toml
	bash scripts/setup.sh python
	touch $@

clean:
	rm -rf .venv .bifrost *.egg-info
