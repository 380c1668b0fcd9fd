# warwire worker / connector image: slim, non-root, installed from the pinned constraints.
#   docker build -t warwire .
#   docker run --rm -e WARWIRE_BROKER=kafka:9092 warwire worker
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY streams ./streams
COPY connectors ./connectors
COPY alerts ./alerts
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin warwire \
    && mkdir -p /app /data && chown warwire /data
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels warwire && rm -rf /wheels
COPY config ./config
COPY rules ./rules
ENV WARWIRE_CONFIG=/app/config/warwire.yaml \
    WARWIRE_WORKER_DATA=/data \
    WARWIRE_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
USER 10001
VOLUME ["/data"]
EXPOSE 9464 9465
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,os;urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WARWIRE_METRICS_PORT','9464'))"
ENTRYPOINT ["warwire"]
CMD ["worker"]
