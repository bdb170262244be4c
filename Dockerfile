# The bifrost-streams worker. Build: docker build -t bifrost-streams .
FROM python:3.11-slim

# The container's network is its own, so the views listen on all its addresses (outside a
# container the default is 127.0.0.1); BIFROST_READ_TOKEN guards them (README: Security).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BIFROST_DATA_DIR=/var/lib/bifrost \
    BIFROST_WEB_HOST=0.0.0.0 \
    BIFROST_WEB_PORT=6066

WORKDIR /app
COPY pyproject.toml setup.cfg README.md ./
COPY bifrost_streams ./bifrost_streams
COPY agents ./agents
COPY tables ./tables
RUN pip install . \
    && useradd --system --home-dir /var/lib/bifrost --create-home bifrost

USER bifrost
EXPOSE 6066
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('BIFROST_WEB_PORT', '6066'), timeout=4)"
CMD ["bifrost-worker"]
