"""A worker refuses settings it cannot honour, before touching storage."""

import dataclasses

import pytest

from taskhub import ConfigurationError, Settings
from taskhub.model.app import App
from worker import Worker


def test_worker_refuses_the_legacy_partition_manager():
    settings = Settings.load(None, env={})
    other = settings.with_overrides(
        storage=dataclasses.replace(settings.storage, use_legacy_partition_management=True)
    )
    with pytest.raises(ConfigurationError) as info:
        Worker(App(), other)
    message = str(info.value)
    assert "useLegacyPartitionManagement" in message and "not implemented" in message
    assert "\n" not in message


def test_worker_needs_an_app():
    with pytest.raises(TypeError, match=r"taskhub\.App"):
        Worker(object(), Settings.load(None, env={}))  # type: ignore[arg-type]
