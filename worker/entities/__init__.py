"""Durable entities in the worker.

Pure (no storage, no asyncio): ``sorter`` (the message sorter: labels, reordering, dedup), ``scheduler``
(incoming messages -> the scheduler state -> the next batch; the lock protocol) and ``batch`` (operations run
one at a time, each rolled back alone when it fails; responses and signals). ``orchestration`` is the
orchestration side (call, signal, lock, release) over ``worker.state``. ``runner`` is the I/O part: a
control-queue work item of an entity -> one checkpoint.
"""

__all__: list[str] = []
