import logging

import azure.durable_functions as df
import azure.functions as func


async def main(req: func.HttpRequest, starter: str, message: func.Out[func.HttpResponse]) -> None:
    client = df.DurableOrchestrationClient(starter)
    function_name = req.route_params["functionName"]
    instance_id = await client.start_new(function_name, None, req.get_json() if req.get_body() else None)
    logging.info("Started orchestration with ID = '%s'.", instance_id)
    message.set(client.create_check_status_response(req, instance_id))
