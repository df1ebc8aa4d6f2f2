# civic-mapper application image (used by docker-compose.yml).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm curl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY pyproject.toml README.md ./
COPY mapper ./mapper
RUN pip install --no-cache-dir -e .
COPY . .
ENV MAPPER_CONFIG=/app/config.toml
EXPOSE 8000
CMD ["granian", "--interface", "wsgi", "--host", "0.0.0.0", "--port", "8000", "--workers", "4", "--blocking-threads", "4", "--access-log", "--factory", "mapper:create_app"]
