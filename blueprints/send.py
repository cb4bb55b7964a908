"""``send_message``: POST /api/send/{channel} -> archive the message, then send it with ACS.

For applications in any language. Function-key auth (``x-functions-key`` header or ``code``
query parameter); put Entra ID in front with App Service authentication if keys are not wanted
(docs/outbound.md). The contract is archiving.outbound.endpoint's.
"""

from __future__ import annotations

import azure.functions as func

from archiving.bootstrap import services

bp = func.Blueprint()


@bp.function_name("send_message")
@bp.route(route="send/{channel}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def send_message(req: func.HttpRequest) -> func.HttpResponse:
    from archiving.outbound.endpoint import handle

    answer = handle(services(), req.route_params.get("channel"), req.get_body(), dict(req.headers))
    return func.HttpResponse(answer.json(), status_code=answer.status, headers=answer.headers,
                             mimetype="application/json", charset="utf-8")
