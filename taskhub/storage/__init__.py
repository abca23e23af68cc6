"""The one seam between the task hub and Azure Storage.

This package is the only place that imports ``azure.*``. ``errors`` translates SDK errors,
``types`` holds the plain values, ``queues``/``tables``/``blobs`` the operations, ``account`` the clients,
``lean``/``lean_tables``/``lean_queues`` the hot calls (queue messages, table writes and batches) sent as
the seam's own requests through a trimmed copy of the client's pipeline, ``sdk_internals`` every private
part of the SDKs it reads (checked per pinned SDK version by ``tests/test_sdk_internals.py``). It wraps
the SDKs' asyncio clients (azure-storage-queue, azure-data-tables, azure-storage-blob, azure-identity)
behind one ``Storage`` object whose methods take and return plain Python values, and it turns every
SDK error into :class:`~taskhub.errors.StorageError` with a ``kind`` (not found, conflict, precondition failed,
lease lost, other). It also counts the calls it makes (``Storage.calls``), which the benchmark reads.

Table rows are plain dicts: ``str`` -> Edm.String, ``int`` -> Edm.Int32, ``bool`` -> Edm.Boolean,
aware ``datetime`` -> Edm.DateTime. Rows read back are :class:`Row` (a dict with ``etag`` and
``timestamp``).
"""

from taskhub.storage.account import Storage
from taskhub.storage.types import BatchKind, BatchOp, BlobInfo, QueryPage, ReceivedMessage, Row

__all__ = ["Storage", "Row", "ReceivedMessage", "BatchOp", "BatchKind", "BlobInfo", "QueryPage"]
