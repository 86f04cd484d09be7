"""Request middleware: the user's timezone (from the ``tz`` cookie app.js sets) and refusing NUL in addresses."""

from __future__ import annotations

import zoneinfo

from django.http import HttpResponseBadRequest, JsonResponse
from django.utils import timezone


class UserTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = request.COOKIES.get("tz", "")
        try:
            timezone.activate(zoneinfo.ZoneInfo(name)) if name else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        return self.get_response(request)


class RefuseNulMiddleware:
    """A NUL character in the address or the query string is a 400 with the reason.

    PostgreSQL text cannot hold NUL, so such a value reaching a query would fail as a server error;
    no real link contains one. Machine endpoints get JSON, pages plain text.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or any("\x00" in k or any("\x00" in v for v in vs)
                                         for k, vs in request.GET.lists()):
            message = "The address contains a NUL character (%00); remove it."
            if request.path.startswith(("/api/", "/v1/")):
                return JsonResponse({"error": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
