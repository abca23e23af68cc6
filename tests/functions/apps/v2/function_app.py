import logging
import os
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func
from blueprint import bp

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(bp)

_attempts: dict = {}


# --- HTTP starters -----------------------------------------------------------------------------------


@app.route(route="orchestrators/{functionName}/{instanceId?}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client):
    function_name = req.route_params.get("functionName")
    instance_id = req.route_params.get("instanceId")
    payload = req.get_json() if req.get_body() else None
    instance_id = await client.start_new(function_name, instance_id, payload)
    logging.info("Started orchestration with ID = '%s'.", instance_id)
    return client.create_check_status_response(req, instance_id)


@app.route(route="counter/{key}", methods=["GET", "POST"])
@app.durable_client_input(client_name="client")
async def counter_api(req: func.HttpRequest, client):
    entity_id = df.EntityId("Counter", req.route_params["key"])
    if req.method == "POST":
        await client.signal_entity(entity_id, req.params.get("op", "add"), int(req.params.get("value", "1")))
        return func.HttpResponse(status_code=202)
    state = await client.read_entity_state(entity_id)
    if not state.entity_exists:
        return func.HttpResponse("no such counter", status_code=404)
    return func.HttpResponse(str(state.entity_state), mimetype="text/plain")


@app.route(route="status/{instanceId}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def custom_status(req: func.HttpRequest, client):
    status = await client.get_status(req.route_params["instanceId"])
    return func.HttpResponse(f"{status.runtime_status.name}|{status.custom_status}", mimetype="text/plain")


@app.route(route="hello/{name}", methods=["GET"])
def hello_http(req: func.HttpRequest) -> str:
    greeting = req.headers.get("x-greeting", "Hello")
    return f"{greeting} {req.route_params['name']}{req.params.get('punct', '.')}"


# --- orchestrators -----------------------------------------------------------------------------------


@app.orchestration_trigger(context_name="context")
def hello_sequence(context: df.DurableOrchestrationContext):
    result1 = yield context.call_activity("say_hello", "Tokyo")
    result2 = yield context.call_activity("say_hello", "Seattle")
    result3 = yield context.call_activity("shout", "London")
    return [result1, result2, result3]


@app.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):
    work = context.get_input() or {}
    count = work.get("count", 5)
    parallel = [context.call_activity("square", n) for n in range(count)]
    results = yield context.task_all(parallel)
    return sum(results)


@app.orchestration_trigger(context_name="context")
def approval_workflow(context: df.DurableOrchestrationContext):
    timeout = (context.get_input() or {}).get("timeout_seconds", 3600)
    deadline = context.current_utc_datetime + timedelta(seconds=timeout)
    timer = context.create_timer(deadline)
    approval = context.wait_for_external_event("Approval")
    winner = yield context.task_any([approval, timer])
    if winner == approval:
        timer.cancel()
        return f"approved: {approval.result}"
    return "escalated"


@app.orchestration_trigger(context_name="context")
def monitor(context: df.DurableOrchestrationContext):
    job = context.get_input()
    polls = 0
    while True:
        done = yield context.call_activity("check_job", {"job": job, "poll": polls})
        polls += 1
        context.set_custom_status({"polls": polls, "done": done})
        if done:
            break
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    return f"{job} finished after {polls} polls"


@app.orchestration_trigger(context_name="context")
def flaky_workflow(context: df.DurableOrchestrationContext):
    key = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=3)
    result = yield context.call_activity_with_retry("flaky", options, key)
    return result


@app.orchestration_trigger(context_name="context")
def doomed_workflow(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=500, max_number_of_attempts=2)
    try:
        yield context.call_activity_with_retry("always_fails", options, "x")
    except Exception as error:
        return f"gave up: {'always fails' in str(error)}"
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def parent_workflow(context: df.DurableOrchestrationContext):
    cities = context.get_input() or ["Oslo", "Lima"]
    children = [context.call_sub_orchestrator("child_workflow", city) for city in cities]
    results = yield context.task_all(children)
    return results


@app.orchestration_trigger(context_name="context")
def child_workflow(context: df.DurableOrchestrationContext):
    city = context.get_input()
    greeting = yield context.call_activity("say_hello", city)
    return {"city": city, "greeting": greeting, "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def eternal_counter(context: df.DurableOrchestrationContext):
    n = context.get_input() or 0
    context.set_custom_status(f"round {n}")
    if n >= 3:
        return n
    yield context.call_activity("square", n)
    context.continue_as_new(n + 1)


@app.orchestration_trigger(context_name="context")
def counter_workflow(context: df.DurableOrchestrationContext):
    entity_id = df.EntityId("Counter", context.get_input())
    context.signal_entity(entity_id, "add", 10)
    value = yield context.call_entity(entity_id, "get")
    return value


# --- activities --------------------------------------------------------------------------------------


@app.activity_trigger(input_name="city")
def say_hello(city: str) -> str:
    return f"{os.environ.get('GREETING', 'Hi')} {city}"


@app.activity_trigger(input_name="n")
async def square(n: int) -> int:
    return n * n


@app.activity_trigger(input_name="request")
def check_job(request: dict) -> bool:
    return request["poll"] >= 2


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    _attempts[key] = _attempts.get(key, 0) + 1
    if _attempts[key] < 3:
        raise RuntimeError(f"attempt {_attempts[key]} failed")
    return f"succeeded on attempt {_attempts[key]}"


@app.activity_trigger(input_name="anything")
def always_fails(anything: str) -> str:
    raise ValueError("always fails")


# --- entity ------------------------------------------------------------------------------------------


@app.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext):
    current = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        current += context.get_input()
        context.set_state(current)
    elif operation == "reset":
        context.set_state(0)
    elif operation == "get":
        context.set_result(current)


# --- a trigger this host does not run ---------------------------------------------------------------


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
def process_order(msg: func.QueueMessage) -> None:
    logging.info("order %s", msg.get_body())
