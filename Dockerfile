# syntax=docker/dockerfile:1
# Every PhotoChanger image: the service SERVICE of the uv workspace, listening on PORT
# (/healthz /readyz /metrics, and the api). The build context is the repository root:
#   docker build --build-arg SERVICE=provider-gemini --build-arg PORT=8102 \
#       -t photochanger/provider-gemini:dev .
# `make images` builds one image per service of `photochanger-devstack services` (the core
# services and one per provider of configs/providers.json).
ARG PYTHON_IMAGE=python:3.11-slim
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# --- builder: resolve from uv.lock and install the service into /app/.venv ----------------
FROM ${PYTHON_IMAGE} AS builder
ARG SERVICE
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# The whole workspace (.dockerignore keeps tests, caches and state out): uv needs every
# member's metadata, and the uv cache mount keeps a rebuild after a code change quick.
COPY pyproject.toml uv.lock ./
COPY configs configs
COPY libs libs
COPY services services
COPY tools tools
# The service, installed as wheels (the runtime stage needs only the venv), and every provider
# package of configs/providers.json: their slot settings models are how the api, the
# dispatcher and the provider services (fallbacks) validate a slot of any provider.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "photochanger-${SERVICE:?set --build-arg SERVICE}" \
        $(python3 -c 'import json; print(" ".join("--package=photochanger-provider-" + p for p in json.load(open("configs/providers.json"))))')

# --- runtime: the venv and configs/, owned by root, run as an unprivileged user -------------
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG PORT=8000
RUN groupadd --system --gid 10001 photochanger \
    && useradd --system --uid 10001 --gid photochanger --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin photochanger \
    && mkdir /media && chown 10001:10001 /media
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
COPY configs /app/configs
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PHOTOCHANGER_PROVIDERS_CONFIG=/app/configs/providers.json \
    PHOTOCHANGER_SERVICE_NAME=${SERVICE} \
    PHOTOCHANGER_HTTP_HOST=0.0.0.0 \
    PHOTOCHANGER_HTTP_PORT=${PORT}
USER 10001:10001
EXPOSE ${PORT}
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PHOTOCHANGER_HTTP_PORT'], timeout=2)"]
# runs the service named by PHOTOCHANGER_SERVICE_NAME (entry points `photochanger.services`)
CMD ["python", "-m", "photochanger_runtime.launch"]
