"""Slack: the Web API gateway, the reading of Slack's request bodies, the inbox of deferred requests."""
