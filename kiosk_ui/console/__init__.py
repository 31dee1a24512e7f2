"""The store-IT console: its own aiohttp site, users and roles, pages for store IT."""
