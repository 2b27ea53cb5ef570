# syntax=docker/dockerfile:1
# The README's own set-up (`make setup`) in a build stage, then a slim image that runs
# `govmetrics serve` itself as PID 1 (exec form, so SIGTERM reaches uvicorn), as a user without
# a login or write access to the code. Not built here (no Docker engine on the development
# machines); checked with hadolint (`make lint-docker`) and by tests/test_packaging.py.
#   docker build -t govmetrics . && docker run --init -p 8000:8000 govmetrics   # then open http://localhost:8000/
# Set-up needs the PyPI registry and PyTorch's CPU index (torch for CPU: a few hundred MB, not
# the multi-GB CUDA build); at run time the service needs only what the image holds.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# make runs the set-up; nothing else is compiled (every dependency comes as a wheel).
RUN apt-get update && apt-get install -y --no-install-recommends make=4.* \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY . /app
# torch from PyTorch's CPU index (TORCH_INDEX, Makefile); Ray for cluster nodes, no test tools;
# the throw-away pkuseg build env goes.
RUN make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu EXTRAS=ray && rm -rf .cache

FROM ${PYTHON_IMAGE}
# The same path as in the build stage: the venv's scripts name /app/.venv/bin/python.
WORKDIR /app
COPY --from=build /app /app
# A home of its own: libraries may keep caches under ~/.cache; the code stays root-owned, read-only.
RUN useradd --system --create-home --no-log-init --shell /usr/sbin/nologin --uid 10001 govmetrics
USER 10001:10001
# In a container the service must listen beyond loopback; every other setting keeps its README default.
ENV GOVMETRICS_HOST=0.0.0.0 PATH=/app/.venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1
EXPOSE 8000
# Healthy once the model is loaded (/readyz answers 200; 503 while loading), on the port it serves.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % (os.environ.get('GOVMETRICS_PORT') or 8000), timeout=4)"]
CMD ["/app/.venv/bin/govmetrics", "serve"]
