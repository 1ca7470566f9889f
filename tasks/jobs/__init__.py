"""A job: one run of one report for one person in one channel, and what surrounds it.

`records` (the job, its states and its record in the store), `queues` (where a job waits and
how long it may run), `publishing` (the one way a job is queued), `in_flight` (each person's
jobs in flight, counted), `access` (who may run what).
"""
