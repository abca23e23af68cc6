# An app as the SDK's samples ship it: no local.settings.json, so no AzureWebJobsStorage of its own;
# its activity reads that setting the way sample code that talks to storage does.
import os

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="orchestrators/{functionName}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client):
    payload = req.get_json() if req.get_body() else None
    instance_id = await client.start_new(req.route_params["functionName"], None, payload)
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def storage_account(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("account_name", None))


@app.orchestration_trigger(context_name="context")
def broken_order(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("load_order", context.get_input()))


@app.activity_trigger(input_name="unused")
def account_name(unused: str) -> str:
    setting = os.environ.get("AzureWebJobsStorage")  # noqa: SIM112 - the setting's own name
    parts = dict(p.split("=", 1) for p in setting.rstrip(";").split(";"))
    return parts["AccountName"]


@app.activity_trigger(input_name="order")
def load_order(order: int) -> str:
    raise ValueError(f"no such order: {order}\nsecond line of the message")


@app.orchestration_trigger(context_name="context")
def count_twice(context: df.DurableOrchestrationContext):
    tally = df.EntityId("tally", "k")
    yield context.call_entity(tally, "add", 2)
    return (yield context.call_entity(tally, "add", 3))


@app.entity_trigger(context_name="context")
def tally(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0) + context.get_input()
    context.set_state(value)
    context.set_result(value)
