# syntax=docker/dockerfile:1
# One image for all four Vestnik services; the command chooses which one runs:
#   docker run vestnik                             -> grades (the default CMD)
#   docker run vestnik vestnik serve notifier      -> the notifier
# deploy/compose.yaml and deploy/k8s/ override the command per service.
#
# Build from the repository root:  docker build -t vestnik:local .

# PYTHON_IMAGE the base of both stages
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# build a virtualenv with the pinned dependencies and the vestnik package
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# The pinned runtime dependencies first, read from pyproject.toml, so this layer is rebuilt
# only when they change and not on every edit of the code.
COPY pyproject.toml ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && pip install --requirement /tmp/requirements.txt

# Then the project itself (services, schemas, deploy: the wheel's packages), without the dev extras.
COPY services ./services
COPY schemas ./schemas
COPY deploy ./deploy
RUN pip install --no-deps . \
    && vestnik --help >/dev/null

# runtime the virtualenv, the system libraries and a non-root user; nothing to build with
FROM ${PYTHON_IMAGE} AS runtime

# WeasyPrint (the digest's PDFs) needs pango and HarfBuzz's subsetter; DejaVu has the Cyrillic
# glyphs: the packages of deploy/local/system/packages.sh, less poppler-utils (tests only).
# tzdata for zoneinfo (each school's time zone), ca-certificates for STARTTLS/HTTPS to the
# SMTP relay and the SMS provider (both usually in the base image already; named to be sure).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
        tzdata ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A fixed numeric uid, so Kubernetes' runAsNonRoot can check it without resolving names.
RUN groupadd --system --gid 10001 vestnik \
    && useradd --system --uid 10001 --gid vestnik --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin vestnik

COPY --from=build /opt/venv /opt/venv
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/vestnik-entrypoint

# XDG_CACHE_HOME: fontconfig's cache (WeasyPrint) goes to /tmp, the one writable place when the
#   root filesystem is read-only (Kubernetes mounts an emptyDir there).
# VESTNIK_HOST: listen on every interface; the port is VESTNIK_<SERVICE>_PORT (8001-8005).
# VESTNIK_ENVIRONMENT=production refuses the development JWT secret: give the container a
#   VESTNIK_JWT_SECRET (or VESTNIK_JWT_SECRET_FILE) of 32+ characters, or set
#   VESTNIK_ENVIRONMENT=local to try the image out.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    XDG_CACHE_HOME=/tmp/.cache \
    VESTNIK_HOST=0.0.0.0 \
    VESTNIK_ENVIRONMENT=production

USER 10001:10001
WORKDIR /tmp

EXPOSE 8001 8002 8003 8004 8005

# The entrypoint turns VESTNIK_*_FILE (Docker/Compose secrets) into VESTNIK_* and execs the command.
ENTRYPOINT ["vestnik-entrypoint"]
CMD ["vestnik", "serve", "grades"]
