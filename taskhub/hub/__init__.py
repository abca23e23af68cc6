"""The hub's own resources, on top of the storage seam (``taskhub.storage``).

``lifecycle`` (``TaskHub``: create and delete every resource, the data-access bundle), ``queues``
(control and work-item queues: envelopes, send, receive, abandon), ``tracking`` (History and Instances
tables under the sentinel ETag), ``payloads`` (large messages and columns as blobs), ``poison`` (the
``{h}-poison`` queue) and ``leases`` (the pure partition lease planner).
"""
