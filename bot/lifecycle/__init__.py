"""An incident's life: opening it, following the pager, what people do to it, declaring, conversation."""
