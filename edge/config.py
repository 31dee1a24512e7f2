"""Load the TOML config once into frozen dataclasses; every error names the file and the key."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from drivers.base import DeviceConfig, DeviceConfigError
from drivers.registry import DRIVERS
from kiosk_ui.console.config import ConsoleConfig
from sync.config import SyncConfig

from .cashier_config import CashierConfig
from .checkout_config import CheckoutConfig
from .errors import ConfigError, reject_unknown_keys
from .face.config import FaceConfig
from .kiosk_config import KioskConfig
from .loyalty_config import LoyaltyConfig, MembersConfig
from .payments.config import PaymentsConfig
from .scan_router import ScanRules
from .screens_config import SignageConfig

EMBEDDED = "<embedded default>"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class StoreConfig:
    id: str
    name: str
    device_id: str
    timezone: str


@dataclass(frozen=True, slots=True)
class PathsConfig:
    state_dir: Path
    database: Path
    run_dir: Path
    log_dir: Path


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    busy_timeout_ms: int
    checkpoint_interval_ms: int


@dataclass(frozen=True, slots=True)
class HttpConfig:
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class LaneConfig:
    id: str
    kind: str
    name: str


@dataclass(frozen=True, slots=True)
class DemoConfig:
    seed: bool


@dataclass(frozen=True, slots=True)
class Config:
    source: str
    store: StoreConfig
    paths: PathsConfig
    database: DatabaseConfig
    http: HttpConfig
    scan: ScanRules
    loyalty: LoyaltyConfig
    lanes: tuple[LaneConfig, ...]
    devices: tuple[DeviceConfig, ...]
    demo: DemoConfig
    payments: PaymentsConfig
    console: ConsoleConfig
    sync: SyncConfig
    face: FaceConfig = field(default_factory=FaceConfig)
    cashier: CashierConfig = field(default_factory=CashierConfig)
    signage: SignageConfig = field(default_factory=SignageConfig)
    members: MembersConfig = field(default_factory=MembersConfig)
    checkout: CheckoutConfig = field(default_factory=CheckoutConfig)
    kiosk: KioskConfig = field(default_factory=KioskConfig)

    def lane(self, lane_id: str) -> LaneConfig | None:
        return next((lane for lane in self.lanes if lane.id == lane_id), None)


def default_config_text() -> str:
    """Return the commented default config that ``storeedge init`` writes."""
    return resources.files("edge").joinpath("default_config.toml").read_text("utf-8")


def load_config(path: Path | None = None) -> Config:
    """Load ``path``, or the embedded default when ``path`` is None."""
    if path is None:
        text, source, base = default_config_text(), EMBEDDED, Path.cwd()
    else:
        try:
            text = path.read_text("utf-8")
        except OSError as err:
            raise ConfigError("-", f"cannot read: {err.strerror}", str(path)) from err
        except UnicodeDecodeError as err:
            raise ConfigError("-", "not UTF-8 text", str(path)) from err
        source, base = str(path), path.resolve().parent
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("-", f"not valid TOML: {err}", source) from err
    try:
        return _build(data, source, base)
    except ConfigError as err:
        raise err.in_file(source) from None


def _build(data: Mapping[str, Any], source: str, base: Path) -> Config:
    reject_unknown_keys(data, "", {
        "store", "paths", "database", "http", "scan", "loyalty", "lanes", "devices", "demo",
        "payments", "console", "face", "sync", "cashier", "signage", "screens", "members",
        "checkout", "kiosk"})
    store = _table(data, "store")
    reject_unknown_keys(store, "store", {"id", "name", "device_id", "timezone"})
    paths = _table(data, "paths")
    reject_unknown_keys(paths, "paths", {"state_dir", "database", "run_dir", "log_dir"})
    state_dir = base / _get(paths, "paths", "state_dir", str, "var")
    database = _table(data, "database")
    reject_unknown_keys(database, "database", {"busy_timeout_ms", "checkpoint_interval_ms"})
    http = _table(data, "http")
    reject_unknown_keys(http, "http", {"host", "port"})
    demo = _table(data, "demo")
    reject_unknown_keys(demo, "demo", {"seed"})

    port = _get(http, "http", "port", int, 8080)
    if not 0 <= port <= 65535:
        raise ConfigError("http.port", f"{port} is not a TCP port (0-65535)")
    busy = _get(database, "database", "busy_timeout_ms", int, 2000)
    if busy < 0:
        raise ConfigError("database.busy_timeout_ms", "must not be negative")
    checkpoint = _get(database, "database", "checkpoint_interval_ms", int, 1000)
    if not 0 <= checkpoint <= 3_600_000:
        raise ConfigError("database.checkpoint_interval_ms", "must be 0 (SQLite's own "
                          "checkpoints) to 3600000")
    scan = ScanRules.from_mapping(_table(data, "scan"))
    lanes = _lanes(data.get("lanes", []))
    run_dir = state_dir / _get(paths, "paths", "run_dir", str, "run")
    devices = _devices(data.get("devices", []), {lane.id for lane in lanes}, state_dir, run_dir)
    face = FaceConfig.from_mapping(_table(data, "face"), state_dir=state_dir, devices=devices,
                                   kiosk_lanes=[lane.id for lane in lanes if lane.kind == "kiosk"])
    return Config(
        source=source,
        store=StoreConfig(
            id=_ident(store, "store", "id", "S001"),
            name=_get(store, "store", "name", str, "StoreEdge"),
            device_id=_ident(store, "store", "device_id", "edge-01"),
            timezone=_get(store, "store", "timezone", str, "Asia/Shanghai"),
        ),
        paths=PathsConfig(
            state_dir=state_dir,
            database=state_dir / _get(paths, "paths", "database", str, "storeedge.db"),
            run_dir=run_dir,
            log_dir=state_dir / _get(paths, "paths", "log_dir", str, "log"),
        ),
        database=DatabaseConfig(busy_timeout_ms=busy, checkpoint_interval_ms=checkpoint),
        http=HttpConfig(host=_get(http, "http", "host", str, "127.0.0.1"), port=port),
        scan=scan,
        loyalty=LoyaltyConfig.from_mapping(_table(data, "loyalty")),
        lanes=lanes,
        devices=devices,
        demo=DemoConfig(seed=_get(demo, "demo", "seed", bool, False)),
        payments=PaymentsConfig.from_mapping(_table(data, "payments"), state_dir),
        console=ConsoleConfig.from_mapping(_table(data, "console"), base),
        face=face,
        sync=SyncConfig.from_mapping(_table(data, "sync"), base),
        cashier=CashierConfig.from_mapping(_table(data, "cashier")),
        signage=SignageConfig.from_mapping(_table(data, "signage"), data.get("screens", [])),
        members=MembersConfig.from_mapping(_table(data, "members")),
        checkout=CheckoutConfig.from_mapping(_table(data, "checkout"), state_dir=state_dir),
        kiosk=KioskConfig.from_mapping(_table(data, "kiosk")),
    )


def _tables(raw: Any, name: str, keys: set[str]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield (where, table) for each ``[[name]]`` entry, checked for unknown keys."""
    if not isinstance(raw, list):
        raise ConfigError(name, f"must be an array of tables ([[{name}]])")
    for i, item in enumerate(raw):
        where = f"{name}[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(where, "must be a table")
        reject_unknown_keys(item, where, keys)
        yield where, item


def _lanes(raw: Any) -> tuple[LaneConfig, ...]:
    lanes: list[LaneConfig] = []
    for where, item in _tables(raw, "lanes", {"id", "kind", "name"}):
        lane_id = _ident(item, where, "id", None)
        kind = _get(item, where, "kind", str, "kiosk")
        if kind not in ("kiosk", "staffed", "exit"):
            raise ConfigError(f"{where}.kind", f"{kind!r} is not one of 'kiosk', 'staffed', "
                              "'exit'")
        if any(lane.id == lane_id for lane in lanes):
            raise ConfigError(f"{where}.id", f"lane {lane_id!r} is declared twice")
        lanes.append(LaneConfig(lane_id, kind, _get(item, where, "name", str, f"Lane {lane_id}")))
    return tuple(lanes)


def _devices(
    raw: Any, lane_ids: set[str], state_dir: Path, run_dir: Path
) -> tuple[DeviceConfig, ...]:
    devices: list[DeviceConfig] = []
    for where, item in _tables(raw, "devices", {"id", "driver", "lane", "options"}):
        device_id = _ident(item, where, "id", None)
        driver = _get(item, where, "driver", str, "")
        if driver not in DRIVERS:
            raise ConfigError(
                f"{where}.driver", f"unknown driver {driver!r}; known: {', '.join(sorted(DRIVERS))}"
            )
        lane = item.get("lane")
        if lane is not None and (not isinstance(lane, str) or lane not in lane_ids):
            raise ConfigError(f"{where}.lane", f"{lane!r} is not a lane declared in [[lanes]]")
        options = item.get("options", {})
        if not isinstance(options, dict):
            raise ConfigError(f"{where}.options", "must be a table")
        options = {
            k: v.replace("{state_dir}", str(state_dir)).replace("{run_dir}", str(run_dir))
            if isinstance(v, str)
            else v
            for k, v in options.items()
        }
        try:
            DRIVERS[driver].parse_options(options)
        except DeviceConfigError as err:
            raise ConfigError(f"{where}.options.{err.key}", err.message) from None
        if any(d.id == device_id for d in devices):
            raise ConfigError(f"{where}.id", f"device {device_id!r} is declared twice")
        devices.append(DeviceConfig(device_id, driver, lane, options))
    return tuple(devices)


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(key, "must be a table")
    return value


def _get(table: Mapping[str, Any], where: str, key: str, kind: type[_T], default: _T) -> _T:
    value = table.get(key, default)
    # bool is an int in Python; a port of `true` is a mistake, not 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{where}.{key}", f"must be {kind.__name__}, got {value!r}")
    return value


def _ident(table: Mapping[str, Any], where: str, key: str, default: str | None) -> str:
    value = table.get(key, default)
    if value is None:
        raise ConfigError(f"{where}.{key}", "is required")
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= 32
        or not all(c.isalnum() or c in "-_" for c in value)
        or not value.isascii()
    ):
        raise ConfigError(f"{where}.{key}", f"{value!r} must be 1-32 letters, digits, - or _")
    return value
