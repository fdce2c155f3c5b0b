"""The baseline of ``make bench``: the cheapest DRF view, served only when BENCH_BASELINE is on.

Device endpoints are measured as a ratio to this view in the same server and run, so
the numbers say what our code costs on top of the framework, whatever the machine.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class BaselineView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    schema = None

    def get(self, request: Request) -> Response:
        return Response({"ok": True})


def plain_view(request: HttpRequest) -> JsonResponse:
    """The same answer from a plain Django view: the floor under DRF (``bench-profile``)."""
    return JsonResponse({"ok": True})
