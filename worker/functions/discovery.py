"""Finding a Durable Functions app's functions, as the Python worker indexes them (functions-host.md 7).

- **v2**: ``function_app.py`` (or the ``PYTHON_SCRIPT_FILE_NAME`` setting) imported with the app folder on
  ``sys.path``; exactly one module-level ``FunctionRegister`` (``df.DFApp``, ``func.FunctionApp``, with
  blueprints registered into it); ``app.get_functions()`` gives each function, its trigger and bindings.
- **v1**: every ``*/function.json``; the code is imported as ``__app__.<Folder>[.<module>]``, ``__app__``
  being a namespace package over the app folder (so ``from ..shared import x`` works), entry point
  ``main`` unless ``entryPoint`` says otherwise.

Each :class:`FunctionInfo` says whether this host runs it; one that it does not (a blob trigger, a Twilio
output binding) carries the reason in ``skipped``. An app that cannot be indexed at all raises
``FunctionAppError`` with one line saying why.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskhub.errors import FunctionAppError

__all__ = ["FunctionInfo", "discover", "RUN_TRIGGERS", "CLIENT_BINDINGS"]

RUN_TRIGGERS = ("orchestrationTrigger", "activityTrigger", "entityTrigger", "httpTrigger")
CLIENT_BINDINGS = ("durableClient", "orchestrationClient")
_SCRIPT_SETTING = "PYTHON_SCRIPT_FILE_NAME"


@dataclass
class FunctionInfo:
    """One function of the app."""

    name: str
    trigger: str
    bindings: list[dict[str, Any]]
    fn: Callable[..., Any] | None
    model: str
    skipped: str | None = None
    aliases: list[str] = field(default_factory=list)
    """Other names the function is called by: the trigger's alias, the Python ``__name__``."""

    @property
    def trigger_binding(self) -> dict[str, Any]:
        return next(b for b in self.bindings if b.get("type") == self.trigger)

    @property
    def route(self) -> str:
        binding = self.trigger_binding
        return str(binding.get("route") or self.name)

    @property
    def methods(self) -> list[str]:
        raw = self.trigger_binding.get("methods") or []
        return [str(m).upper() for m in raw] or ["GET", "POST"]


def _binding_dicts(raw: list[Any]) -> list[dict[str, Any]]:
    out = []
    for item in raw:
        value = json.loads(item) if isinstance(item, str) else item
        if isinstance(value, dict):
            out.append(value)
    return out


def _skip_reason(trigger: str, bindings: list[dict[str, Any]]) -> str | None:
    if trigger not in RUN_TRIGGERS:
        return f"{trigger} functions are not run by taskhub func start (it runs {', '.join(RUN_TRIGGERS)})"
    for b in bindings:
        kind = str(b.get("type"))
        if kind == trigger or kind in CLIENT_BINDINGS:
            continue
        if kind == "http" and trigger == "httpTrigger" and str(b.get("direction", "")).lower() == "out":
            continue
        return (
            f"its {kind} binding {b.get('name')!r} is not supported (only the durable client and http output)"
        )
    return None


def _check_context_name(info: FunctionInfo) -> None:
    if info.skipped is None and info.trigger in ("orchestrationTrigger", "entityTrigger"):
        name = info.trigger_binding.get("name")
        if name != "context":
            kind = "orchestrator" if info.trigger == "orchestrationTrigger" else "entity"
            raise FunctionAppError(
                f"{kind} {info.name!r}: its {info.trigger} binding is named {name!r}, but the Durable Functions "
                "SDK passes the parameter 'context'; name it context (context_name=\"context\" / "
                '"name": "context" in function.json)'
            )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(sys.prefix):
            where = f" ({Path(tb.tb_frame.f_code.co_filename).name}, line {tb.tb_lineno})"
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f" ({Path(exc.filename).name}, line {exc.lineno})"
    return f"{type(exc).__name__}: {text}{where}"


def _import(module_name: str, what: str) -> types.ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise FunctionAppError(f"cannot import {what}: {_one_line(exc)}") from None


def _v2(root: Path, script: str) -> list[FunctionInfo]:
    import azure.functions as func

    module = _import(Path(script).stem, script)
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if not apps:
        raise FunctionAppError(
            f"{script} in {root} defines no function app: create one at module level, e.g. "
            "app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)"
        )
    if len(apps) > 1:
        raise FunctionAppError(
            f"{script} defines {len(apps)} function apps; there must be exactly one (register blueprints "
            "into it with app.register_functions(bp))"
        )
    try:
        functions = apps[0].get_functions()
    except Exception as exc:
        raise FunctionAppError(f"{script}: the functions cannot be indexed: {_one_line(exc)}") from None
    out = []
    for f in functions:
        bindings = _binding_dicts(f.get_raw_bindings())
        trigger = str(getattr(f.get_trigger(), "type", ""))
        fn = f.get_user_function()
        info = FunctionInfo(str(f.get_function_name()), trigger, bindings, fn, "v2")
        info.skipped = _skip_reason(trigger, bindings)
        info.aliases = _aliases(info, fn)
        out.append(info)
    return out


def _aliases(info: FunctionInfo, fn: Any) -> list[str]:
    names = []
    binding = info.trigger_binding
    for key in ("orchestration", "activity", "entityName"):
        if isinstance(binding.get(key), str) and binding[key]:
            names.append(binding[key])
    for obj in (fn, getattr(fn, "orchestrator_function", None), getattr(fn, "entity_function", None)):
        inner = getattr(obj, "__name__", None)
        if isinstance(inner, str) and inner not in ("handle", "<lambda>"):
            names.append(inner)
    return [n for n in dict.fromkeys(names) if n != info.name]


def _v1(root: Path, folders: list[Path]) -> list[FunctionInfo]:
    package = sys.modules.get("__app__")
    if package is None or list(getattr(package, "__path__", [])) != [str(root)]:
        package = types.ModuleType("__app__")
        package.__path__ = [str(root)]
        sys.modules["__app__"] = package
    out = []
    for path in folders:
        folder = path.parent.name
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FunctionAppError(f"{folder}/function.json cannot be read: {exc}") from None
        bindings = spec.get("bindings") if isinstance(spec, dict) else None
        if not isinstance(bindings, list) or not all(isinstance(b, dict) for b in bindings):
            raise FunctionAppError(f"{folder}/function.json: 'bindings' must be a list of objects")
        triggers = [b for b in bindings if str(b.get("type", "")).endswith("Trigger")]
        if len(triggers) != 1:
            raise FunctionAppError(
                f"{folder}/function.json must have exactly one trigger binding, has {len(triggers)}"
            )
        trigger = str(triggers[0]["type"])
        info = FunctionInfo(folder, trigger, bindings, None, "v1")
        info.skipped = _skip_reason(trigger, bindings)
        if spec.get("disabled") is True:
            info.skipped = "it is disabled in function.json"
        if info.skipped is None:
            script = str(spec.get("scriptFile") or "__init__.py")
            stem = Path(script).stem
            module_name = f"__app__.{folder}" if stem == "__init__" else f"__app__.{folder}.{stem}"
            module = _import(module_name, f"{folder}/{script}")
            entry = str(spec.get("entryPoint") or "main")
            fn = getattr(module, entry, None)
            if not callable(fn):
                raise FunctionAppError(f"{folder}/{script} has no function {entry!r} (the entry point)")
            info.fn = fn
            info.aliases = _aliases(info, fn)
        out.append(info)
    return out


def discover(root: Path, settings: Mapping[str, str]) -> list[FunctionInfo]:
    """The functions of the app in ``root``; ``settings`` are the app settings (for the script name)."""
    if not root.is_dir():
        raise FunctionAppError(f"the script root {root} is not a folder")
    script = settings.get(_SCRIPT_SETTING) or "function_app.py"
    folders = sorted(root.glob("*/function.json"))
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    if (root / script).is_file():
        functions = _v2(root, script)
    elif folders:
        functions = _v1(root, folders)
    else:
        raise FunctionAppError(
            f"no {script} and no */function.json in {root}: run taskhub func start in the app's folder "
            "or pass --script-root"
        )
    for info in functions:
        _check_context_name(info)
    return functions
