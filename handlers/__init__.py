"""Bolt listeners and aiohttp routes: verify, parse into a domain value, make one call into a service."""
