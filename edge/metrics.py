"""Prometheus metrics of one daemon, on a registry of its own (no module-level state).

prometheus-client does the text format and the metric types; chains scrape ``/metrics`` with
the monitoring they already run.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .app import EdgeApp
    from .lane_events import LaneEvent

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEVICE_STATES = ("closed", "idle", "busy", "error")
SYNC_STATES = ("online", "degraded", "offline")


class EdgeMetrics:
    """Counters the daemon bumps as things happen, plus gauges read at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.sales = Counter("storeedge_sales", "Sales committed", ["lane"],
                             registry=self.registry)
        self.sales_fen = Counter("storeedge_sales_fen", "Sales total in fen", ["lane"],
                                 registry=self.registry)
        self.sales_refused = Counter("storeedge_sales_refused", "Sales refused (cart kept)",
                                     ["lane"], registry=self.registry)
        self.scans = Counter("storeedge_scans", "Scans by source device and outcome",
                             ["device", "outcome"], registry=self.registry)
        self.scan_seconds = Histogram(
            "storeedge_scan_seconds", "From a scan's bytes read to its cart durable and the "
            "screens told (a slow disk shows here first)", ["lane"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0), registry=self.registry)
        self.safe_mode = Gauge("storeedge_safe_mode", "1 when the database failed its check",
                               registry=self.registry)
        self.face_jobs = Counter("storeedge_face_jobs", "Face frames by camera and outcome",
                                 ["camera", "outcome"], registry=self.registry)
        self.face_job_seconds = Histogram(
            "storeedge_face_job_seconds", "One frame: detect, landmarks, encode, 1:N search",
            buckets=(0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0), registry=self.registry)
        self.face_greetings = Counter("storeedge_face_greetings", "Members recognised by face",
                                      ["lane"], registry=self.registry)
        self.sync_push_seconds = Histogram(
            "storeedge_sync_push_seconds", "Time for one push to the CRM to be answered",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry)
        self.interventions = Counter(
            "storeedge_interventions", "Self-checkout interventions raised, by lane and reason",
            ["lane", "reason"], registry=self.registry)
        self.interventions_cleared = Counter(
            "storeedge_interventions_cleared", "Interventions an attendant cleared, and how",
            ["lane", "reason", "method"], registry=self.registry)
        self.intervention_wait_seconds = Histogram(
            "storeedge_intervention_wait_seconds", "From raised to cleared: how long a shopper "
            "waited for an attendant", ["reason"],
            buckets=(5, 15, 30, 60, 120, 300, 600, 1800), registry=self.registry)
        self.receipts = Counter("storeedge_receipts", "Receipts printed or failed, by lane",
                                ["lane", "outcome"], registry=self.registry)
        self.exits = Counter("storeedge_exits", "Scan-and-go exit checks by outcome and reason",
                             ["lane", "outcome", "reason"], registry=self.registry)

    def count_lane_event(self, lane_id: str, event: LaneEvent) -> None:
        """Count what a lane event says happened (sales, interventions, receipts, exits)."""
        data = event.data
        match event.code:
            case "sale_completed":
                self.sales.labels(lane_id).inc()
                self.sales_fen.labels(lane_id).inc(data.get("total_fen", 0))
            case "sale_refused":
                self.sales_refused.labels(lane_id).inc()
            case "intervention_raised":
                self.interventions.labels(lane_id, str(data.get("reason"))).inc()
            case "intervention_cleared":
                reason = str(data.get("reason"))
                self.interventions_cleared.labels(lane_id, reason,
                                                  str(data.get("method"))).inc()
                waited = _seconds_since(data.get("raised_at"), event.at)
                if waited is not None:
                    self.intervention_wait_seconds.labels(reason).observe(waited)
            case "receipt_printed" | "receipt_print_failed":
                outcome = "printed" if event.code == "receipt_printed" else "failed"
                self.receipts.labels(lane_id, outcome).inc()
            case "exit_passed" | "exit_refused" | "exit_audit":
                self.exits.labels(lane_id, event.code.removeprefix("exit_"),
                                  str(data.get("reason") or "")).inc()

    def bind(self, app: EdgeApp) -> None:
        """Read device states and queue figures from ``app`` at every scrape."""
        self.registry.register(_AppCollector(app))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _AppCollector(Collector):
    def __init__(self, app: EdgeApp) -> None:
        self._app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = GaugeMetricFamily("storeedge_device_state",
                                   "1 for the state each device is in", labels=["device", "state"])
        for status in self._app.device_statuses():
            for state in DEVICE_STATES:
                states.add_metric([status.device_id, state], float(status.state == state))
        for device_id in self._app.device_errors:
            if device_id not in self._app.devices:
                for state in DEVICE_STATES:
                    states.add_metric([device_id, state], float(state == "error"))
        yield states
        carts = GaugeMetricFamily("storeedge_open_cart_lines", "Lines in each lane's open cart",
                                  labels=["lane"])
        locked = GaugeMetricFamily("storeedge_lane_locked",
                                   "1 while a lane waits for an attendant", labels=["lane"])
        for lane_id, lane in self._app.lanes.items():
            carts.add_metric([lane_id], float(len(lane.cart.lines)))
            locked.add_metric([lane_id], float(bool(lane.hooks.view().get("locked"))))
        yield carts
        yield locked
        face = self._app.face
        if face is not None:
            yield GaugeMetricFamily("storeedge_face_templates", "Face templates in the gallery",
                                    value=float(len(face.gallery)))
        yield from _sync_gauges(self._app.sync.status())


def _seconds_since(start: Any, end: str) -> float | None:
    try:
        return max(0.0, (dt.datetime.fromisoformat(end)
                         - dt.datetime.fromisoformat(str(start))).total_seconds())
    except (TypeError, ValueError):
        return None


def _sync_gauges(sync: dict[str, Any]) -> Iterator[GaugeMetricFamily]:
    state = GaugeMetricFamily("storeedge_sync_state", "1 for the sync state the daemon is in",
                              labels=["state"])
    for name in SYNC_STATES:
        state.add_metric([name], float(sync["state"] == name))
    yield state
    for key, metric, text in (
            ("pending_count", "storeedge_sync_queue_depth", "Events not yet acknowledged"),
            ("pending_fen", "storeedge_sync_pending_fen", "Fen of sales the CRM does not have"),
            ("oldest_pending_age_s", "storeedge_sync_oldest_pending_seconds",
             "Age of the oldest event not yet at the CRM"),
            ("dead_letters", "storeedge_sync_dead_letters", "Events refused by the CRM"),
            ("clock_skew_s", "storeedge_sync_clock_skew_seconds",
             "Local clock minus the CRM's")):
        gauge = GaugeMetricFamily(metric, text)
        gauge.add_metric([], float(sync.get(key) or 0))
        yield gauge
