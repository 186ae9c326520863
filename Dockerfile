# One image for every role: web (leadmarket serve), worker (leadmarket worker), beat (leadmarket beat).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY leadmarket ./leadmarket
COPY affiliates ./affiliates
COPY marketplace ./marketplace
COPY fraud ./fraud
COPY billing ./billing
COPY api ./api
COPY web ./web
RUN pip install --no-cache-dir . && useradd --system --uid 10001 leadmarket
USER leadmarket
EXPOSE 8000
CMD ["leadmarket", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
