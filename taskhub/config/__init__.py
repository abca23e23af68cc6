"""Configuration: host.json + environment -> one frozen ``Settings`` tree, and storage connections.

``settings`` (the key table: ``Settings``, ``StorageSettings`` and how they load), ``rules`` (parsing and
checking one value: TimeSpans, ranges, hub names) and ``connection`` (app settings, connection strings
and identity-based connections).
"""
