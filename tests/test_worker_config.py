"""A worker refuses settings it cannot honour, before touching storage."""

import dataclasses

import pytest

from taskhub import ConfigurationError, Settings
from taskhub.model.app import App
from worker import Worker


@pytest.mark.parametrize("field", ["use_table_partition_management", "use_legacy_partition_management"])
def test_worker_refuses_partition_managers_it_does_not_implement(field):
    settings = Settings.load(None, env={})
    other = settings.with_overrides(storage=dataclasses.replace(settings.storage, **{field: True}))
    with pytest.raises(ConfigurationError) as info:
        Worker(App(), other)
    message = str(info.value)
    assert "PartitionManagement" in message and "safe blob manager" in message
    assert "\n" not in message


def test_worker_needs_an_app():
    with pytest.raises(TypeError, match=r"taskhub\.App"):
        Worker(object(), Settings.load(None, env={}))  # type: ignore[arg-type]
