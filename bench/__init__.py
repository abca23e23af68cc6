"""The task hub benchmark: ``python -m bench`` (or ``make bench``); see bench/README.md.

``bench.workloads`` holds the App the worker runs, ``bench.worker_proc`` the worker process the
benchmark drives, ``bench.w5_client`` the client process of W5, and ``bench.run`` the driver, which
composes ``bench.procs`` (Azurite and worker processes), ``bench.floor`` (the floor),
``bench.drivers`` (W1-W3 and W5) and ``bench.report`` (targets, table, JSON); ``bench.common`` holds
what they share.
"""
