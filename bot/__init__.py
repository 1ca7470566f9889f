"""reportbot: a Slack bot that runs reports."""
