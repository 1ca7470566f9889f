"""The worker: the Celery app's configuration and what runs a job.

`app` (builds the worker's Celery app: configuration, tasks, signals), `celery_config` (each
Celery setting and its reason), `execution` (a job's life, step by step),
`runtime` (the clients a process builds once), `process` (what a worker process sets up at
start), `lost_jobs` and `run_lease` (jobs no report will end, and one delivery at a time),
`deferred_calls` (the "running" status posted a little later).
"""
