"""The programming model: what user code writes against.

``app`` (the ``App`` registry of orchestrators and activities), ``tasks`` (``Task``, ``when_all``,
``when_any``, ``RetryPolicy``), ``context`` (``OrchestrationContext``, ``ActivityContext``) and
``values`` (JSON in and out). Pure: no storage, no asyncio.
"""
