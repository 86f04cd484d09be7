import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
application = get_asgi_application()

from agentops.serving import refuse_insecure_serving  # noqa: E402 - needs the settings loaded above

refuse_insecure_serving()
