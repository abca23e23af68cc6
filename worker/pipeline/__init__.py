"""The work-item pipeline: control-queue batches and work items -> executors -> the backend.

``sessions`` (a control queue's batches -> one session per instance), ``orchestrations`` (an
orchestration work item: admit, load, triage, decide, commit), ``entities`` (an entity work item the same
way), ``activities`` (activity work items, local dispatch), ``instance_cache`` (the one history cache,
with the sessions that carry on in memory), ``polling`` (backoff).
"""

__all__: list[str] = []
