"""The executor seam: who runs user code. ``base`` holds the interfaces (the engine hands an executor
the past and the new events and gets decisions back, asynchronously); ``app`` runs a ``taskhub.App`` in
this process (with extended sessions). Durable Functions apps run through ``worker.functions.executor``.
"""

__all__: list[str] = []
