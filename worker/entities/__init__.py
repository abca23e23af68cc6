"""Durable entities' own logic, pure (no storage, no asyncio, nothing else of the worker).

``sorter`` (the message sorter: labels, reordering, dedup), ``scheduler`` (incoming messages -> the
scheduler state -> the next batch; the lock protocol) and ``batch`` (operations run one at a time, each
rolled back alone when it fails; responses and signals). The orchestration side of entities (call,
signal, lock, release) is ``worker.engine.entity_calls``; an entity work item runs through the pipeline
(``worker.pipeline.entities``).
"""

__all__: list[str] = []
