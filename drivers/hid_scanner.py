"""USB HID scan guns read through evdev, grabbed so no scan ever types into the kiosk browser.

The driver finds its device by a stable identity (``drivers.identity``) among the nodes linked
from ``/dev/input/by-id``, opens every event node of that device, grabs each one (EVIOCGRAB:
the keys go to us only, never to the desktop), and reads them with the event loop's reader on
non-blocking descriptors. Key events go through one ``HidDecoder``.

Hot-plug is the normal path. A read error or a vanished link means the device left: the scan
in progress is discarded, the nodes are released and closed, and the status says "unplugged,
waiting" until the same device comes back, when it is opened and grabbed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import options as opt
from .base import DeviceConfig, DeviceState, Driver, TestResult
from .hid_decode import TERMINATOR_KEYS, DecoderOptions, HidDecoder, HidResult, LayoutDetected
from .hid_source import DEFAULT_BY_ID, EvdevSource, EventSource, SourceOpener, input_candidates
from .hotplug import FolderWatcher
from .identity import IDENTITY_KEYS, Candidate, Identity, match
from .keymaps import LAYOUTS

_LOGGER = logging.getLogger(__name__)

# Names scan guns report (vendors, and words in product names); a keyboard matches none.
_SCANNER_NAME = re.compile(
    r"scan|barcode|bar code|imager|honeywell|hand ?held|metrologic|symbol|zebra|motorola|"
    r"datalogic|newland|zebex|opticon|cino|inateck|netum|tera|eyoyo|mindeo|sunmi|youjie|"
    r"code ?reader|qr", re.IGNORECASE)


def looks_like_scanner(name: str) -> bool:
    return bool(_SCANNER_NAME.search(name))


@dataclass(frozen=True, slots=True)
class HidOptions:
    identity: Identity
    layout: str                 # "us", "de", "fr" or "auto"
    kind: str                   # "auto", "scanner" or "keyboard"
    terminators: tuple[int, ...]
    inter_key_timeout: float
    typing_timeout: float
    max_mean_gap: float
    aim: bool
    grab: bool
    by_id_dir: Path
    rescan_interval: float
    max_length: int


class HidScanner(Driver):
    """A USB scan gun in keyboard mode."""

    name = "hid"

    def __init__(self, config: DeviceConfig, *, opener: SourceOpener = EvdevSource) -> None:
        super().__init__(config)
        self.options = self.parse_options(config.options)
        self._opener = opener
        self._sources: list[EventSource] = []
        self._layout = "us" if self.options.layout == "auto" else self.options.layout
        self._decoder = self._new_decoder("")
        self._expiry: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self._watcher: FolderWatcher | None = None
        self._ever_attached = False
        self._attached_at = 0.0
        self._detail.update(layout=self._layout, layout_source="config"
                            if self.options.layout != "auto" else "default until calibrated",
                            grabbed=False, nodes=[])

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> HidOptions:
        opt.only(options, {*IDENTITY_KEYS, "layout", "kind", "terminators",
                           "inter_key_timeout_ms", "typing_timeout_ms", "max_mean_gap_ms", "aim",
                           "grab", "by_id_dir", "rescan_interval_ms", "max_length"})
        terminators = opt.string_list(options, "terminators", ["enter"], TERMINATOR_KEYS)
        return HidOptions(
            identity=Identity.from_options(options),
            layout=opt.choice(options, "layout", "us", [*sorted(LAYOUTS), "auto"]),
            kind=opt.choice(options, "kind", "auto", ["auto", "scanner", "keyboard"]),
            terminators=tuple(code for name in terminators for code in TERMINATOR_KEYS[name]),
            inter_key_timeout=opt.seconds(options, "inter_key_timeout_ms", 80, 5, 5000),
            typing_timeout=opt.seconds(options, "typing_timeout_ms", 10000, 100, 600000),
            max_mean_gap=opt.seconds(options, "max_mean_gap_ms", 30, 1, 1000),
            aim=opt.boolean(options, "aim", True),
            grab=opt.boolean(options, "grab", True),
            by_id_dir=opt.path(options, "by_id_dir", str(DEFAULT_BY_ID)),
            rescan_interval=opt.seconds(options, "rescan_interval_ms", 1000, 10, 60000),
            max_length=opt.integer(options, "max_length", 256, 1, 4096),
        )

    # -- lifecycle ----------------------------------------------------------------------

    async def _open(self) -> None:
        await self._reconcile()  # the first state is known when start() returns
        self._task = asyncio.create_task(self._watch(), name=f"hid:{self.device_id}")

    async def _close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._detach()

    async def _watch(self) -> None:
        options = self.options
        try:
            async with FolderWatcher(options.by_id_dir, options.rescan_interval,
                                     "input") as watcher:
                self._watcher = watcher
                seen: frozenset[str] = frozenset()
                while True:
                    seen = await watcher.wait_change(seen, poll=not self._sources)
                    await self._reconcile()
        finally:
            self._watcher = None
            self._detach()  # released even when the task dies

    async def _reconcile(self) -> None:
        """Attach to the configured device if it is present; note it gone if not."""
        candidates = await asyncio.to_thread(input_candidates, self.options.by_id_dir)
        found = match(self.options.identity, candidates)
        wanted = [c.node for c in found.nodes]
        if self._sources and [s.path for s in self._sources] == wanted:
            return
        if self._sources:
            self._lost("device changed")
        if not found.nodes:
            waiting = "unplugged, waiting" if self._ever_attached else f"{found.reason}; waiting"
            self._set_state(DeviceState.ERROR, waiting)
            return
        try:
            sources = await asyncio.to_thread(self._open_nodes, found.nodes)
        except OSError as err:
            self._set_state(DeviceState.ERROR, _open_error(err))
            return
        self._attach(sources, found.nodes)

    def _open_nodes(self, nodes: Sequence[Candidate]) -> list[EventSource]:
        sources: list[EventSource] = []
        try:
            for node in nodes:
                source = self._opener(node.node)
                sources.append(source)
                if self.options.grab:
                    source.grab()
        except BaseException:
            for source in sources:
                _release(source, grabbed=False)
            raise
        return sources

    def _attach(self, sources: list[EventSource], nodes: Sequence[Candidate]) -> None:
        loop = asyncio.get_running_loop()
        self._sources = sources
        for source in sources:
            loop.add_reader(source.fileno(), self._on_readable, source)
        name = next((n.name for n in nodes if n.name), "") or sources[0].name
        self._decoder = self._new_decoder(name)
        self._ever_attached = True
        self._attached_at = loop.time()
        self._detail.update(nodes=[s.path for s in sources], name=name, grabbed=self.options.grab,
                            kind=self._decoder.options.mode)
        _LOGGER.info("Device %s: reading %s (%s)%s", self.device_id,
                     ", ".join(s.path for s in sources), name,
                     ", grabbed" if self.options.grab else " WITHOUT a grab")
        self._set_state(DeviceState.IDLE)

    def _detach(self) -> None:
        """Stop reading, release the grab and close every node (each step on its own)."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        sources, self._sources = self._sources, []
        for source in sources:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(source.fileno())
            _release(source, grabbed=self.options.grab)
        if sources:
            self._detail.update(grabbed=False, nodes=[])

    def _lost(self, reason: str) -> None:
        partial = self._decoder.reset(f"{reason} mid-scan; partial scan discarded")
        if partial is not None:
            self._emit(partial)
        self._detach()
        self._set_state(DeviceState.ERROR, "unplugged, waiting")
        # Look again at once, unless the device only just came: a node that opens but fails
        # every read must not turn into a busy loop; polling retries it each interval.
        loop = asyncio.get_running_loop()
        if self._watcher is not None and loop.time() - self._attached_at > \
                self.options.rescan_interval:
            self._watcher.kick()

    # -- reading ------------------------------------------------------------------------

    def _on_readable(self, source: EventSource) -> None:
        try:
            events = source.read()
        except OSError as err:
            _LOGGER.info("Device %s: %s gone (%s)", self.device_id, source.path,
                         err.strerror or err)
            self._lost("unplugged")
            return
        for event in events:
            # One at a time: a calibration scan changes the layout the next scan is read in.
            result = self._decoder.feed(*event)
            if result is not None:
                self._handle(result)
        self._arm_expiry()

    def _arm_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if self._decoder.in_progress:
            timeout = self._decoder.options.inter_key_timeout
            self._expiry = asyncio.get_running_loop().call_later(timeout, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        result = self._decoder.expire()
        if result is not None:
            self._handle(result)

    def _handle(self, result: HidResult) -> None:
        if not isinstance(result, LayoutDetected):
            self._emit(result)
            return
        if self.options.layout == "auto":
            self._layout = result.layout
            self._decoder.use_layout(result.layout)
            _LOGGER.info("Device %s types in layout %s (calibration barcode)", self.device_id,
                         result.layout)
            self._update_detail(layout=result.layout, layout_source="calibration")
        elif result.layout != self._layout:
            _LOGGER.warning("Device %s types in layout %s but the config says %s: set "
                            "layout = %r (or \"auto\")", self.device_id, result.layout,
                            self._layout, result.layout)
            self._update_detail(calibration=f"types in {result.layout}, config says "
                                f"{self._layout}")
        else:
            self._update_detail(calibration=f"layout {result.layout} confirmed")

    def _new_decoder(self, device_name: str) -> HidDecoder:
        kind = self.options.kind
        if kind == "auto" and looks_like_scanner(device_name):
            kind = "scanner"
        return HidDecoder(self.device_id, DecoderOptions(
            layout=self._layout, terminators=self.options.terminators,
            inter_key_timeout=self.options.typing_timeout if kind == "keyboard"
            else self.options.inter_key_timeout,
            mode=kind, max_mean_gap=self.options.max_mean_gap,
            max_length=self.options.max_length, aim=self.options.aim))

    async def test(self) -> TestResult:
        status = self.status
        if not self._sources:
            return TestResult(False, status.reason or "not connected", dict(status.detail))
        grabbed = "grabbed" if self.options.grab else "NOT grabbed (keys also reach the desktop)"
        return TestResult(True, f"reading {len(self._sources)} node(s) of "
                          f"{status.detail.get('name') or 'the device'}, {grabbed}; layout "
                          f"{self._layout}", dict(status.detail))


def _release(source: EventSource, *, grabbed: bool) -> None:
    if grabbed:
        with contextlib.suppress(OSError):
            source.ungrab()
    with contextlib.suppress(OSError):
        source.close()


def _open_error(err: OSError) -> str:
    node = getattr(err, "filename", None) or "the device"
    if err.errno == errno.EBUSY:
        return f"{node} is grabbed by another program (EBUSY); stop it, or check for a " \
               "second [[devices]] entry naming this scanner"
    if err.errno == errno.EACCES:
        return f"no permission to open {node}: add the storeedge user to the input group"
    return f"cannot open {node}: {err.strerror or err}"
