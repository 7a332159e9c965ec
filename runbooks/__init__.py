"""The shipped runbooks, as YAML data (one file each, validated at load by `bot.runbooks_loader`). Operators add
their own in the folder SRE_RUNBOOKS_PATH names."""
