# The README's two commands: `make demo` (install everything, run the pipeline on the demo feeds)
# and `make test` (install everything, run the whole test suite against a real Kafka broker).
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: install demo run test lint kafka-jars clean

install: $(VENV)/.installed kafka-jars

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	touch $@

kafka-jars:
	bash deploy/kafka/kafka.sh fetch >/dev/null

demo: install
	$(VENV)/bin/warwire run --demo

run: install
	$(VENV)/bin/warwire run

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf var/ .pytest_cache
