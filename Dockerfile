# Production-like image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends build-essential curl && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY agentops ./agentops
COPY monitoring ./monitoring
COPY handoffs ./handoffs
COPY roi ./roi
RUN pip install .
COPY . .
# As deployed (DEBUG off): the hashed, compressed files and their manifest. The key is used for nothing here.
RUN DEBUG=0 SECRET_KEY=collectstatic-only-not-a-runtime-key-0123456789abcdefghij python manage.py collectstatic --noinput
RUN useradd --create-home app && chown -R app /app
USER app
EXPOSE 8000
CMD ["gunicorn", "agentops.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
