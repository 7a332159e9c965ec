"""Adapters: how sre-agent speaks to Slack, the paging services and the agents (A2A)."""
