"""Settings and the YAML files (catalog, agents, runbooks), and the checks before a start."""
