"""Talking to Slack: the Web API and the calls made with it, ids, mrkdwn, pacing.

`web_api` (the one client factory, and every Web API call), `posting` (a job's messages),
`ids` (Slack's id shapes), `mrkdwn` (escaping), `pacing` (a channel's rate limit as this process
has seen it), `kept_alive` (a WebClient that keeps its connection open).
"""
