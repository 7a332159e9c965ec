"""Plumbing the services run on: the inbound queue, durable timers, background tasks, per-incident locks."""
