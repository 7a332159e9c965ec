"""SLOs and error budgets at work: their status from counts, and (to come) the tick, the alerts and the digest."""
