"""The DTFx Azure Storage wire format, pure (storage-format.md): no storage calls, no asyncio.

``names`` (every resource name, FNV-1a partitioning, key escaping), ``history`` (the HistoryEvent
types with their wire schema), ``messages`` (queue ``MessageData`` JSON, ``$type`` first) on top of
``netjson`` (the Newtonsoft-style object codec), ``rows`` (History and Instances table rows),
``timefmt`` (.NET DateTime text) and ``leases`` (the lease blob and ``taskhub.json`` documents).
"""
