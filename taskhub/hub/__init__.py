"""The hub's own resources, on top of the storage seam (``taskhub.storage``).

``lifecycle`` (``TaskHub``: create and delete every resource, the data-access bundle), ``queues``
(control and work-item queues: envelopes, send, receive, give back, delete; ``inbound`` is what they
hand out), with the jobs beside it: ``held`` (keeping taken messages hidden by renewals), ``local``
(local delivery of this process's own messages) and ``wakeup`` (listeners woken by sends, here and in
the hub's other processes on this machine); ``tracking`` (History and Instances tables under the
sentinel ETag), ``rewind`` (DF's in-place history edit of a failed instance), ``payloads`` (large
messages and columns as blobs), ``poison`` (the ``{h}-poison`` queue) and ``leases`` (the pure
partition lease planner); ``health`` (queue depths and ages), read by ``scale`` (the target-based
worker count, ``taskhub scale`` and ``GET /scale``) and ``backlog`` (the queue gauges of ``/metrics``);
``service`` (``AzureStorageService``: the client's backend seam, ``taskhub.client.service``, on these).
"""
