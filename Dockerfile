# One image for the five services of the national e-one-stop (and the topic tool).
# docker-compose.yml picks the service with `command: python -m services.<name>`.
#
#   docker build -t onestop:local .
#   docker run --rm onestop:local                          # prints the usage below
#   docker run --rm -e ... onestop:local python -m services.intake migrate
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# DejaVu Sans: the PDFs (receipt slips, reports) embed it for Vietnamese diacritics.
# Tesseract with its Vietnamese and orientation models: digitization's OCR reads the
# declaration forms (services/digitization/ocr/engine.py; without them it reads nothing).
# poppler-utils: pdftoppm renders a scanned PDF page that holds no single image for OCR.
# The same packages as deploy/system-packages.sh installs for `make up`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core poppler-utils \
       tesseract-ocr tesseract-ocr-vie tesseract-ocr-osd \
    && rm -rf /var/lib/apt/lists/*

# Only what the package needs: a change under tests/ or docs does not rebuild this layer.
WORKDIR /src
COPY pyproject.toml ./
COPY contracts ./contracts
COPY services ./services
COPY deploy ./deploy
COPY tools ./tools
COPY bench ./bench
# Installed, not run from the source tree: the image runs exactly what the package ships
# (migrations, catalogue, schemas included as package data). No extras: the development
# extra (the local broker, test tools) stays out of the image.
RUN pip install . \
    && cd / && rm -rf /src

RUN groupadd --system --gid 10001 onestop \
    && useradd --system --uid 10001 --gid onestop --home-dir /app --create-home \
       --shell /usr/sbin/nologin onestop \
    && mkdir -p /app/var \
    && chown -R onestop:onestop /app

WORKDIR /app
ENV ONESTOP_VAR_DIR=/app/var
USER 10001:10001

EXPOSE 8000 8001 8002 8003 8004 8005

CMD ["sh", "-c", "printf '%s\\n' \
'usage: python -m services.<name> [migrate]' \
'  <name>: intake (8001) | digitization (8002) | processing (8003) | notification (8004) | reporting (8005) | web (8000, the screens)' \
'  migrate: upgrade the service database and exit' \
'topics:  python -m services.common.messaging.topics create' \
'secrets: python -m deploy.secrets --dir /out  (what `make secrets` runs; docs/production.md)' \
'settings: README.md, Configuration; docker-compose.yml sets them for production'"]
