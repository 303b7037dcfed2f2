# PhotoChanger: two commands do everything on a fresh machine.
#   make up    run the whole platform locally (Kafka, FerretDB, emulators, five services)
#   make test  lint + types + every test against real Kafka and FerretDB
SHELL := /bin/bash
UV ?= uv
PYTEST_ARGS ?=

.PHONY: up down test lint unit integration e2e deploy kube bench chaos install deps smoke-live browser manifests images

deps:
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --quiet "uv==0.13.9"
	$(UV) sync --frozen --quiet

install: deps
	$(UV) run photochanger-devstack install

# Debian's Chromium for the console's browser tests: Playwright drives the system's browser,
# nothing is downloaded at run time. Installed only when missing (root + apt, as in CI); the
# tests skip without it, except under CI=true, where they fail.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the console's browser tests"; started=$$SECONDS; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends chromium >/dev/null && \
	  echo "chromium installed in $$((SECONDS - started)) s: $$($(CHROMIUM) --version 2>/dev/null)"; \
	else echo "no $(CHROMIUM): 'apt-get install chromium' to run the browser tests" >&2; fi

# Debian's etcd for the Kubernetes API server of the deployment tests (tests/deploy builds
# kube-apiserver itself from the Go module proxy, once). Installed only when missing (root +
# apt, as in CI); without it those tests skip, except under CI=true, where they fail.
ETCD ?= etcd
kube:
	@if command -v $(ETCD) >/dev/null 2>&1 || [ -x /usr/bin/etcd ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's etcd-server for the Kubernetes API server tests"; started=$$SECONDS; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends etcd-server >/dev/null && \
	  echo "etcd installed in $$((SECONDS - started)) s: $$(/usr/bin/etcd --version 2>/dev/null | head -1)"; \
	else echo "no etcd: 'apt-get install etcd-server' to run the Kubernetes API server tests" >&2; fi

up: install
	$(UV) run photochanger-devstack up

down:
	@command -v $(UV) >/dev/null 2>&1 && $(UV) run --frozen photochanger-devstack stop || true

# every package's source root: a new provider folder is type-checked without editing this
SOURCE_ROOTS := $(wildcard libs/*/src services/*/src tools/devstack/src)
empty :=
space := $(empty) $(empty)

lint: deps
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	MYPYPATH=$(subst $(space),:,$(SOURCE_ROOTS)) $(UV) run mypy $(SOURCE_ROOTS) bench

test: lint install browser kube
	$(UV) run pytest $(PYTEST_ARGS)

unit: deps
	$(UV) run pytest -m unit $(PYTEST_ARGS)

integration: install
	$(UV) run pytest -m "integration and not e2e" $(PYTEST_ARGS)

e2e: install browser
	$(UV) run pytest -m e2e $(PYTEST_ARGS)

# deploy/: render both overlays, check them against the code, promtool, the policy test and a
# server-side dry-run on a real Kubernetes API server (tests/deploy)
deploy: deps kube
	$(UV) run pytest -m deploy $(PYTEST_ARGS)

bench: install
	$(UV) run python -m bench $(BENCH_ARGS)

# kill every process (and keep Kafka and the database down) under load; exit 1 on a lost job
chaos: install
	$(UV) run python -m bench.chaos $(CHAOS_ARGS)

smoke-live: deps
	$(UV) run python -m photochanger_devstack.smoke_live

# deploy/generated/: each provider's Kubernetes and Compose services, every service's Kafka user
# (ACLs from spec/contracts/asyncapi) and the MongoDB roles script, from configs/providers.json
manifests: deps
	$(UV) run photochanger-devstack manifests

# one image per service (the core services and one per provider), all from ./Dockerfile
IMAGE_PREFIX ?= photochanger
IMAGE_TAG ?= dev
images: deps
	$(UV) run --frozen photochanger-devstack services | while read -r service port; do \
	  docker build --build-arg SERVICE=$$service --build-arg PORT=$$port \
	    -t $(IMAGE_PREFIX)/$$service:$(IMAGE_TAG) . || exit 1; \
	done
