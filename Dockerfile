FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && useradd --system --uid 1000 chat && chown -R chat /app
USER chat
EXPOSE 8000
# --proxy-headers: the client address comes from the proxy; pings every 20 s stay
# below the proxy's read timeout (deploy/nginx.conf: 300 s).
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "--ping-interval", "20", \
     "--websocket-max-message-size", "65536", "chatsite.asgi:application"]
