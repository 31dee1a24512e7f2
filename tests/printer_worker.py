"""Print one receipt and exit: the process a test kills between sending a job and recording it.

    python -m tests.printer_worker PORT JOURNAL JOB_ID
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from drivers.base import DeviceConfig
from drivers.printer import ReceiptPrinter
from drivers.receipt import Cut, Qr, Receipt, Text

RECEIPT = Receipt((
    Text("StoreEdge 示范店", bold=True, size="double", align="center"),
    Text("农夫山泉 550ml           ¥2.00"),
    Text("合计                     ¥2.00", bold=True),
    Qr("https://e.example/r/S001-1-42"),
    Cut(),
))


def printer(port: int, journal: Path, device_id: str = "printer-1") -> ReceiptPrinter:
    return ReceiptPrinter(DeviceConfig(device_id, "printer", "1", {
        "host": "127.0.0.1", "port": port, "journal": str(journal), "timeout_ms": 30_000,
        "status_interval_ms": 0}))


async def main(port: int, journal: Path, job_id: str) -> None:
    async with printer(port, journal) as device:
        print("PRINTING", flush=True)
        result = await device.print_job(job_id, RECEIPT)
        print(result.outcome, flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]))
