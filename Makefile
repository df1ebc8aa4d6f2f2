# The two commands of the README:
#   make run    bootstrap, start the embedded PostGIS, migrate, load demo data, serve on http://127.0.0.1:5000
#               (with a scores worker in the background, stopped when the server stops)
#   make test   bootstrap, then the test suite against a fresh throwaway database
PORT ?= 5000
MAPPER = .venv/bin/mapper

.PHONY: run test bootstrap db bench clean-db
bootstrap:
	@scripts/bootstrap.sh

run: bootstrap
	@$(MAPPER) db start
	@$(MAPPER) db upgrade
	@$(MAPPER) demo
	@$(MAPPER) worker & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(MAPPER) serve --port $(PORT)

test:
	@scripts/bootstrap.sh --browser
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@.venv/bin/python -m pytest $(PYTEST_ARGS)

bench: bootstrap
	@.venv/bin/python -m bench.ingest $(BENCH_ARGS)

clean-db:
	-@$(MAPPER) db stop
	rm -rf var
