# syntax=docker/dockerfile:1
# Tiergate's images, built from this repository (see README, "Docker"):
#   target `tiergate` (the default): the web server and the workers, started by `tiergate up --host 0.0.0.0`;
#   target `n8n`: the official n8n image with the Tiergate community node preinstalled.
# Both take the node package from the `n8n-node` stage, which builds it and packs it with `npm pack`.

# -- the n8n community node, built and packed ----------------------------------------------------------
FROM node:20.19.5-bookworm-slim AS n8n-node
WORKDIR /build
COPY n8n-nodes/package.json n8n-nodes/package-lock.json ./
# The locked versions; @n8n/node-cli's install scripts are not needed to build (see tests/n8n/harness.py).
RUN npm install --ignore-scripts --no-save --no-audit --no-fund --loglevel=error
COPY n8n-nodes/ ./
RUN npm run build \
 && npm pack --pack-destination /out \
 && mkdir -p /out/package \
 && tar -xzf /out/n8n-nodes-tiergate-*.tgz -C /out/package --strip-components=1

# -- n8n with the Tiergate node ------------------------------------------------------------------------
FROM n8nio/n8n:2.8.4 AS n8n
COPY --from=n8n-node /out/package /opt/tiergate/n8n-nodes-tiergate
COPY docker/n8n-entrypoint.sh /opt/tiergate/n8n-entrypoint.sh
# The n8n image's own entrypoint runs after the node is put in place (n8n's user folder is a volume,
# so the copy happens at start, and an upgraded image brings its newer node along).
ENTRYPOINT ["tini", "--", "/bin/sh", "/opt/tiergate/n8n-entrypoint.sh"]

# -- Tiergate ------------------------------------------------------------------------------------------
FROM python:3.11.11-slim-bookworm AS tiergate
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TIERGATE_DATA_DIR=/data \
    PORT=8080
WORKDIR /app
COPY pyproject.toml README.md ./
COPY app/ app/
COPY workers/ workers/
RUN pip install --no-cache-dir . \
 && groupadd --system --gid 10001 tiergate \
 && useradd --system --uid 10001 --gid tiergate --home-dir /data --no-create-home tiergate \
 && mkdir -p /data \
 && chown tiergate:tiergate /data
# The packed node, for installing it into an n8n that is not this compose file's (README, "Docker").
COPY --from=n8n-node /out/n8n-nodes-tiergate-*.tgz /opt/tiergate/
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('PORT', '8080'), timeout=4)"]
CMD ["tiergate", "up", "--host", "0.0.0.0"]
