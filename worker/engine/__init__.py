"""The engine: pure replay, (past events, new events) -> decisions -> one episode.

No storage, no asyncio. ``replay`` drives an orchestrator over a history (``Replay`` can carry on over
the next events: extended sessions), with ``context`` (the orchestration context), ``state`` (the shared
``ReplayState`` and the actions) and ``handlers`` (one handler per history event kind); ``entity_calls``
and ``calls_state`` are the orchestration side of entities. ``episode`` is the one pure step that applies
an executor's decisions to a session and builds the episode: history rows, messages, Instances status.
``history_index`` keeps what sorting a batch needs.
"""

__all__: list[str] = []
