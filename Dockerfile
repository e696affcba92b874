# meetbridge gateway. Build: docker build -t meetbridge .
# Run:   docker run -p 8000:8000 -v meetbridge-data:/data -v $PWD/meetbridge.toml:/etc/meetbridge/meetbridge.toml:ro \
#          -e RECALL_API_KEY=... meetbridge
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY adapters ./adapters
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data meetbridge \
    && mkdir -p /data /etc/meetbridge && chown meetbridge /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER meetbridge
WORKDIR /data
VOLUME ["/data"]
ENV MEETBRIDGE_DATABASE_URL=sqlite+aiosqlite:////data/meetbridge.db \
    MEETBRIDGE_CONFIG=/etc/meetbridge/meetbridge.toml \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["meetbridge", "serve", "--host", "0.0.0.0", "--port", "8000"]
