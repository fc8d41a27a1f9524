# One image for every process of docker-compose.yml: web, worker, beat and the migrate step.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    MAIL_HOST=127.0.0.1

WORKDIR /app

# The dependencies alone first, read from pyproject.toml: a code change reuses this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The code runs from /app, as in a checkout (manage.py, `celery -A helpdesk`, the Procfile).
COPY . .
ENV PYTHONPATH=/app

# Static files are part of the image; the key only lets the settings load during the build.
# The compiled translation catalogs (.mo) are committed, so no gettext is needed here.
RUN SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home helpdesk \
    && mkdir -p var/attachments \
    && chown -R helpdesk:helpdesk var

USER helpdesk
# Only web is for the outside. The mail receiver binds to loopback (MAIL_HOST): a deployment
# that puts its MTA in another container sets MAIL_HOST on a private network (docker-compose.yml).
EXPOSE 8000
CMD ["python", "-m", "helpdesk.run", "web"]
