"""PagerDuty: the REST adapter behind the Pager port, its webhook's parser and signature check."""
