"""OpsGenie and Jira Service Management Operations: the Alert API adapter behind the Pager port and its webhook."""
