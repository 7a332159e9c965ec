"""The shipped runbooks, as YAML data (one file each, validated at load by `bot.config.runbooks`). Operators add
their own in the folder SRE_RUNBOOKS_PATH names."""
