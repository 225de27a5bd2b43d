import json
import logging

import azure.functions as func

bp = func.Blueprint()


@bp.route(route="products/{category:alpha}/{id:int?}", methods=[func.HttpMethod.GET, func.HttpMethod.POST])
@bp.queue_output(arg_name="msg", queue_name="%ORDERS_QUEUE%", connection="AzureWebJobsStorage")
def products(req: func.HttpRequest, msg: func.Out[str]) -> func.HttpResponse:
    category = req.route_params.get("category")
    product_id = req.route_params.get("id")
    logging.info("category=%s id=%s", category, product_id)
    if req.method == "POST":
        order = req.get_json()
        msg.set(json.dumps({"category": category, "id": product_id, "quantity": order.get("quantity", 1)}))
        return func.HttpResponse("order accepted", status_code=202)
    return func.HttpResponse(
        json.dumps({"category": category, "id": int(product_id) if product_id else None}),
        mimetype="application/json",
    )
