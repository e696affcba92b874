"""The ``cronofy`` adapter: events go to a Cronofy account whose Recall.ai integration makes the bots."""
