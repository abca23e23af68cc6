"""Every example pattern in one App, for a worker that serves them all: ``taskhub worker examples.all:app``."""

from __future__ import annotations

from types import ModuleType

from examples import aggregator, approval, bank, chaining, counter, fan_out_fan_in, monitor
from taskhub.model.app import App

app = App()


def _include(module: ModuleType) -> None:
    """Register the orchestrators and activities of ``module.app`` under the same names."""
    source: App = module.app
    for name in source.orchestrator_names:
        app.orchestrator(name=name)(source.get_orchestrator(name))  # type: ignore[arg-type]
    for name in source.activity_names:
        app.activity(name=name)(source.get_activity(name))  # type: ignore[arg-type]
    for name in source.entity_names:
        app.entity(name=name)(source.get_entity(name))  # type: ignore[arg-type]


for _module in (approval, chaining, fan_out_fan_in, monitor, counter, bank, aggregator):
    _include(_module)
