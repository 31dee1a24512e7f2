"""Device I/O: scan guns, serial scanners and scales, cameras, printers and their simulators."""
