import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
django_wsgi_app = get_wsgi_application()

from core.bodycap import BodyCapWSGI  # noqa: E402

# Bodies over REQUEST_MAX_BYTES are refused before Django reads them.
application = BodyCapWSGI(django_wsgi_app)
