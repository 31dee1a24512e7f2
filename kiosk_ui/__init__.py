"""The web apps served by the daemon: kiosk, lane, screens and the store-IT console."""
