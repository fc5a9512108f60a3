# The shardcast operator image. Build: docker build -t shardcast:0.1.0 .
# Two stages: the build tools and pip's caches stay out of the image that runs.
FROM python:3.11.13-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
# Only what `pip install .` reads (see .dockerignore), so code edits elsewhere keep the cache.
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m venv /opt/shardcast \
    && /opt/shardcast/bin/pip install . \
    && /opt/shardcast/bin/python -m compileall -q /opt/shardcast

FROM python:3.11.13-slim-bookworm
# Bytecode was compiled at build time: the root filesystem is read-only when running.
ENV PATH=/opt/shardcast/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
# pg_dump and psql for the PostgreSQL data plane's sync Job (`shardcast dataplane postgres sync`);
# libgomp, the OpenMP runtime LightGBM's wheel links against (the boosted forecast model).
RUN apt-get update \
    && apt-get install -y --no-install-recommends "postgresql-client-15=15.*" "libgomp1=12.*" \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/shardcast /opt/shardcast
# Numeric, so the kubelet can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
# kopf's liveness endpoint (the chart's health.port).
EXPOSE 8080
ENTRYPOINT ["shardcast", "run"]
