"""A Durable Functions app that uses orchestration versioning (host.json ``defaultVersion`` 1.0): an
HTTP starter that passes ``?version=`` to ``start_new``, an orchestrator that reads ``context.version``
and calls sub-orchestrations with and without ``version=``, and a status route that shows what the
SDK's ``get_status`` reports."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="orchestrators/{functionName}/{instanceId}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client):
    version = req.params.get("version")
    instance_id = await client.start_new(
        req.route_params["functionName"], req.route_params["instanceId"], None, version=version
    )
    return client.create_check_status_response(req, instance_id)


@app.route(route="version/{instanceId}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def version_of(req: func.HttpRequest, client):
    status = await client.get_status(req.route_params["instanceId"])
    return func.HttpResponse(str(getattr(status, "version", "?")), mimetype="text/plain")


@app.orchestration_trigger(context_name="context")
def upgrade_aware(context: df.DurableOrchestrationContext):
    if context.version == "0.5":
        return {"version": context.version, "path": "legacy"}
    inherited = yield context.call_sub_orchestrator("report_version")
    pinned = yield context.call_sub_orchestrator("report_version", version="0.9")
    return {"version": context.version, "inherited": inherited, "pinned": pinned}


@app.orchestration_trigger(context_name="context")
def report_version(context: df.DurableOrchestrationContext):
    return context.version
