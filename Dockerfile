# syntax=docker/dockerfile:1
#
# One image recipe for every marops service; the build arg SERVICE picks which:
#   docker build --build-arg SERVICE=intake --build-arg VERSION=0.1.0 -t marops-intake:0.1.0 .
# (intake | governance | budget | metrics). docker-compose.yml builds all four; `make images`
# builds them tagged with each service's package version (VERSION must equal it: checked).
# The same image runs the API (default command), the workers (`marops-worker <service>`) and
# the migrations (`marops-migrate <service>`).
#
# Stage 1 installs the shared libraries and the chosen service, with their runtime
# dependencies only (no dev/test extras), into a virtual environment; stage 2 copies
# that environment onto a clean slim base and runs it as a non-root user.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# --upgrade-deps: a current pip. The pip that ships with the base image backtracks into
# an unsatisfiable old opentelemetry-instrumentation-* release when the instrumentation
# packages are released out of step (e.g. fastapi 0.66b2 before aiokafka 0.66b2).
RUN python -m venv --upgrade-deps /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# The shared libraries first: this layer is the same for all four services, so it is
# built once and cached.
COPY libs/events /src/libs/events
COPY libs/service /src/libs/service
COPY libs/importer /src/libs/importer
# the importer package is the `marops` command line (import, dead letters): operators run
# it from a service's pod
RUN pip install /src/libs/events /src/libs/service /src/libs/importer

ARG SERVICE
RUN test -n "$SERVICE" || { echo "build arg SERVICE is required (intake|governance|budget|metrics)" >&2; exit 1; }
COPY services/${SERVICE} /src/services/${SERVICE}
ARG VERSION
RUN pip install /src/services/${SERVICE} \
 && python -c "import importlib; importlib.import_module('marops_${SERVICE}.main').create_app" \
 && installed="$(python -c "import importlib.metadata as m; print(m.version('marops-${SERVICE}'))")" \
 && { [ "$VERSION" = "$installed" ] || { echo "build arg VERSION=$VERSION is not marops-${SERVICE}'s version $installed" >&2; exit 1; }; }


FROM python:3.11-slim

ARG SERVICE
ARG VERSION
LABEL org.opencontainers.image.title="marops-${SERVICE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MAROPS_SERVICE=${SERVICE} \
    MAROPS_VERSION=${VERSION}

RUN groupadd --system --gid 10001 marops \
 && useradd --system --uid 10001 --gid marops --home-dir /app --no-create-home --shell /usr/sbin/nologin marops \
 && mkdir /app && chown marops:marops /app

COPY --from=build /opt/venv /opt/venv
COPY LICENSE /app/LICENSE

WORKDIR /app
USER 10001:10001
EXPOSE 8000

# slim has no curl: probe liveness with the interpreter (urlopen raises on non-2xx).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# exec: uvicorn becomes PID 1 and gets SIGTERM directly for a graceful shutdown.
CMD ["sh", "-c", "exec uvicorn --factory marops_${MAROPS_SERVICE}.main:create_app --host 0.0.0.0 --port 8000"]
