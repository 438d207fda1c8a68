# incidentbot: a small, non-root image that runs `incidentbot run`.
#
#   docker build -t incidentbot .
#   cp config/example.env .env   # then fill in tokens / DATABASE_URL
#   docker run --env-file .env -p 3000:3000 \
#     -v "$PWD/config:/app/config:ro" -v incidentbot-data:/data incidentbot
#
# Configuration comes from the environment (see config/example.env) and the mounted
# config/ directory (INCIDENTBOT_CONFIG points into it). /healthz and /metrics listen on
# PORT. SIGTERM finishes in-flight work, releases claims and exits 0.

# Pinned base: a full version tag, the same in both stages.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/incidentbot
# Dependencies come from the project's own metadata (pyproject.toml), every version pinned
# by constraints.txt (scripts/lock), the build backend of the isolated build included.
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY probes ./probes
COPY durations ./durations
ENV PIP_CONSTRAINT=/src/constraints.txt
RUN /opt/incidentbot/bin/pip install .

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/incidentbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    INCIDENTBOT_CONFIG=/app/config/incidentbot.yaml \
    INCIDENTBOT_DATA_DIR=/data \
    PORT=3000 \
    LOG_FORMAT=json
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin incidentbot \
    && mkdir -p /app /data \
    && chown incidentbot:incidentbot /data
COPY --from=build /opt/incidentbot /opt/incidentbot
COPY config /app/config
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 3000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["incidentbot"]
CMD ["run"]
