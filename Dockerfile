# The translation catalogues, compiled from locale/**/*.po by GNU gettext's msgfmt (the
# committed .mo files are the same; this stage keeps gettext out of the image).
FROM python:3.11-slim AS catalogues
RUN apt-get update && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*
COPY locale /locale
RUN find /locale -name '*.po' -exec sh -c 'msgfmt --check -o "${1%.po}.mo" "$1"' _ {} \;

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# The runtime user: no home, no shell, no write access to the code (owned by root),
# so a compromised process cannot change what it runs. Numeric in USER below, so
# Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 chat \
    && useradd --system --uid 10001 --gid chat --no-create-home --shell /usr/sbin/nologin chat
# espeak-ng: the default speech engine (SPEECH_ENGINE=espeak, offline; chat/speech/).
RUN apt-get update && apt-get install -y --no-install-recommends espeak-ng \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --chown=root:root requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=root:root . .
COPY --from=catalogues --chown=root:root /locale /app/locale
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && chmod -R a+rX,go-w /app
USER 10001:10001
EXPOSE 8000
# --proxy-headers: the client address comes from the proxy; pings every 20 s stay
# below the proxy's read timeout (deploy/nginx.conf: 300 s).
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "--ping-interval", "20", \
     "--websocket-max-message-size", "65536", "chatsite.asgi:application"]
