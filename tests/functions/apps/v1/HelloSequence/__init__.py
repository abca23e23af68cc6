import azure.durable_functions as df

from ..shared_code.places import CITIES


def orchestrator_function(context: df.DurableOrchestrationContext):
    results = []
    for index, city in enumerate(CITIES):
        context.set_custom_status(f"{index} of {len(CITIES)} greeted")
        results.append((yield context.call_activity("SayHello", city)))
    context.set_custom_status("all greeted")
    return results


main = df.Orchestrator.create(orchestrator_function)
