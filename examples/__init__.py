"""Durable Functions patterns written for taskhub, one module per pattern.

Each module has a module-level ``app = App()`` that a worker serves
(``taskhub worker examples.approval:app``); :mod:`examples.all` registers every pattern in one App,
since a worker serves one App.

- :mod:`examples.chaining`: function chaining, each activity's output is the next one's input;
- :mod:`examples.fan_out_fan_in`: run activities in parallel and aggregate their results;
- :mod:`examples.monitor`: poll a job's status with durable timers until it is done or expires;
- :mod:`examples.approval`: human interaction, an external event races a durable timer.
"""
