"""A Django ASGI application configured in this module: settings, urls and views in one file."""

from __future__ import annotations

import django
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="sailfish-integration-tests-only",
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
        INSTALLED_APPS=[],
        DATABASES={},
        USE_TZ=True,
        APPEND_SLASH=False,
        LOGGING_CONFIG=None,
    )
    django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        f"hello django {request.GET.get('name', 'world')}", content_type="text/plain"
    )


@csrf_exempt
def form(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405)
    return JsonResponse(
        {
            "name": request.POST.get("name"),
            "colors": request.POST.getlist("color"),
            "content_type": request.content_type,
        }
    )


async def async_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"async": True, "path": request.path, "method": request.method})


urlpatterns = [
    path("", index),
    path("form", form),
    path("async", async_view),
]

application = get_asgi_application()
