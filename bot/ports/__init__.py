"""Ports: what the services need from the world (a clock, a pager), as Protocols with adapters behind them."""
