# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
TOOLS  := .tools
AZURITE := $(TOOLS)/node_modules/.bin/azurite
DEMO_BLOB_PORT ?= 10000
DEMO_QUEUE_PORT ?= 10001
THREAD := 19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2

.PHONY: install browser test test-long demo azurite bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(AZURITE):
	mkdir -p $(TOOLS)
	cd $(TOOLS) && npm install --no-audit --no-fund --silent azurite@3

install: $(VENV)/.installed $(AZURITE)

## Debian's Chromium, for the test that opens the HTML export in a real headless browser. Optional:
## installed as root or in CI (CI=true, with sudo when not root); otherwise that one test is skipped.
browser:
	@if [ -n "$$CHROMIUM_BIN" ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif [ "$$CI" = true ]; then \
		sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "Chromium not found: the browser test will be skipped. To run it: sudo make browser" \
			"(or sudo apt-get install chromium), or set CHROMIUM_BIN."; \
	fi

## The whole test suite (starts its own Azurite and ACS test server on free loopback ports).
test: install browser
	$(PY) -m pytest -q

## The long reliability runs at full size (see docs/reliability.md).
test-long: install
	ARCHIVER_LONG_RUNS=1 $(PY) -m pytest -q -m slow

## Archive the bundled sample conversation into Azurite and print it back.
demo: install
	@mkdir -p .azurite
	@$(AZURITE) --silent --disableTelemetry --skipApiVersionCheck --loose --location .azurite \
		--blobHost 127.0.0.1 --blobPort $(DEMO_BLOB_PORT) --queueHost 127.0.0.1 --queuePort $(DEMO_QUEUE_PORT) \
		--tableHost 127.0.0.1 --tablePort 0 > .azurite/azurite.log 2>&1 & echo $$! > .azurite/pid
	@trap 'kill $$(cat .azurite/pid) 2>/dev/null' EXIT; \
	for i in $$(seq 1 50); do (echo > /dev/tcp/127.0.0.1/$(DEMO_BLOB_PORT)) 2>/dev/null && break; sleep 0.2; done; \
	export ArchiveStorage="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:$(DEMO_BLOB_PORT)/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$(DEMO_QUEUE_PORT)/devstoreaccount1;" \
		ARCHIVE_HASH_KEY=demo-only-hash-key ARCHIVE_CONTAINER=chat-archive-demo; \
	$(PY) -m archiving --quiet replay samples/conversation.json && \
	$(PY) -m archiving --quiet show '$(THREAD)'

## Azurite in the foreground on the default ports, for `func start`.
azurite: $(AZURITE)
	$(AZURITE) --silent --disableTelemetry --skipApiVersionCheck --loose --location .azurite --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1

bench: install
	$(PY) bench/events.py

clean:
	rm -rf $(VENV) $(TOOLS) .azurite .pytest_cache
