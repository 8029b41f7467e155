# One image for every Vigie service; the compose file picks the subcommand.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY connectors ./connectors
COPY dashboard ./dashboard
COPY layouts ./layouts
COPY assets ./assets
RUN pip install --no-cache-dir '.[postgres,web]'
ENV VIGIE_DATA_DIR=/data
VOLUME /data
ENTRYPOINT ["vigie"]
