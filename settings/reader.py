"""Reading raw config strings (as the CLI passes them) and the one error type bad input raises."""

from __future__ import annotations

import difflib
import json
import math
from typing import Any, Optional

import pulumi


class ConfigError(pulumi.RunError):
    """A configuration value that cannot work. The CLI prints the message without a traceback."""

    def __init__(self, key: str, value: Any, problem: str, fix: str, *, hide_value: bool = False,
                 shown: Optional[str] = None):
        self.key, self.problem, self.fix = key, problem, fix
        if shown is None:
            shown = "[secret]" if hide_value else json.dumps(value) if not isinstance(value, str) else repr(value)
        super().__init__(f"config {key}={shown}: {problem}; {fix}")



def listing(items) -> str:
    return ", ".join(items)


def closest(name: str, known) -> str:
    """ "did you mean X" for a misspelt key, or the list of keys when nothing is close."""
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"did you mean {match[0]}?" if match else f"known keys: {listing(sorted(known))}"


def unknown_field(key: str, value: dict, known) -> None:
    """Refuse the first field of an object key (autoscaling, ...) that the program does not read."""
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ConfigError(key, value, f"unknown field {unknown[0]!r}",
                          f"{closest(unknown[0], known)} (fields: {listing(known)})")


class Reader:
    """Reads raw config strings (as the CLI passes them) and converts them with clear errors."""

    def __init__(self) -> None:
        self.cfg = pulumi.Config()
        self.gcp = pulumi.Config("gcp")

    def set_keys(self) -> list[str]:
        """Every key of the project's namespace that has a value: the stack file's and Pulumi.yaml's.

        The CLI hands the program its config as the PULUMI_CONFIG environment bag (the Python
        language host); the mocks and `pulumi.runtime.set_all_config` put it in CONFIG. Both count.
        """
        prefix = f"{self.cfg.name}:"
        found = set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.config.get_config_env())
        return sorted(k[len(prefix):] for k in found if k.startswith(prefix))

    def refuse_unknown(self, known) -> None:
        """A misspelt key (`replica: 3`) would otherwise be ignored and the default used, silently."""
        for key in self.set_keys():
            if key not in known:
                # The value is not shown: a misspelt secret key (hfTokn) holds a secret.
                raise ConfigError(key, None, "is not a key this program reads",
                                  f"{closest(key, known)} (remove it, or see README's configuration table)",
                                  shown="…")

    def object(self, key: str, fields, fix: str) -> Optional[dict]:
        """An object key (autoscaling, forecast): None when absent; refused when not a JSON object or
        when it has a field the program does not read."""
        raw = self.raw(key)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise ConfigError(key, raw, "not an object", fix)
        unknown_field(key, value, fields)
        return value

    def raw(self, key: str) -> Optional[str]:
        value = self.cfg.get(key)
        return None if value is None or value == "" else value

    def string(self, key: str, default: str) -> str:
        return self.raw(key) or default

    def integer(self, key: str, default: int, lo: int, hi: int, fix: str) -> int:
        value = self.raw(key)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(key, value, "not a whole number", fix) from None
        if not lo <= number <= hi:
            raise ConfigError(key, number, f"outside {lo}..{hi}", fix)
        return number

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(key, value, "not a boolean", "use true or false")

    def string_list(self, key: str, default: list[str], fix: str) -> list[str]:
        value = self.raw(key)
        if value is None:
            return list(default)
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            # `pulumi config set capacity spot` stores a plain string: accept a comma-separated list.
            parsed = [part.strip() for part in value.split(",")]
        if not isinstance(parsed, list) or not all(isinstance(p, str) for p in parsed):
            raise ConfigError(key, value, "not a list of strings", fix)
        return parsed

    def price(self, key: str) -> Optional[float]:
        value = self.raw(key)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not (number >= 0 and math.isfinite(number)):
            raise ConfigError(key, value, "not a price", "give US dollars per hour for one machine, e.g. 0.80")
        return number



    def checked(self, key: str, default: str, rule, fix: str) -> str:
        """A free-form string that must satisfy `rule` (settings.names): one error naming the key."""
        value = self.string(key, default)
        problem = rule(value)
        if problem:
            raise ConfigError(key, value, problem, fix)
        return value
