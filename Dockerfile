# collab in a container: the web editor is built with Node, then collab is installed with it
# into a slim Python image. The database lives in the /data volume.
#
#   docker build -t collab .
#   docker run -d -p 8000:8000 -v collab-data:/data -e COLLAB_AUTH_SECRET="$(openssl rand -hex 32)" collab
#
# Every setting is a COLLAB_* variable (README "Configuration"); the image sets COLLAB_HOST to
# 0.0.0.0 (inside the container) and COLLAB_DB to /data/collab.db.

FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM python:3.12-slim-bookworm
# jemalloc, preloaded by `collab serve` (collab/allocator.py: documents take less memory)
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --create-home --home-dir /home/collab --uid 10001 collab \
    && mkdir /data && chown collab:collab /data
WORKDIR /opt/collab
COPY pyproject.toml README.md ./
COPY collab/ collab/
# In a checkout collab/web_dist is a symlink to web/dist: here it is the built copy itself.
RUN rm -rf collab/web_dist
COPY --from=web /src/web/dist/ collab/web_dist/
RUN pip install --no-cache-dir . && rm -rf /opt/collab/collab /opt/collab/build

USER collab
ENV COLLAB_HOST=0.0.0.0 \
    COLLAB_PORT=8000 \
    COLLAB_DB=/data/collab.db \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"COLLAB_PORT\"]}/healthz', timeout=4)"]
# SIGTERM stops collab cleanly (peers get 1001, everything committed stays committed).
STOPSIGNAL SIGTERM
CMD ["collab", "serve"]
