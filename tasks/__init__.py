"""reportbot's background side: jobs, reports, rendering, talking to Slack, schedules, the worker.

Importing any module here builds nothing and connects nothing; the one exception is
`tasks.celery`, the module `celery -A tasks worker|beat|flower` finds, which builds the app.

- `tasks.jobs`: a job, its record in the store, how it is queued, who may run it;
- `tasks.reports`: the report API (`@report`, `Table`, `Chart`, SQL reports) and the built-ins;
- `tasks.rendering`: everything a person sees about a job: status lines, results, tables, charts;
- `tasks.slack`: the Web API client and every call made to Slack, ids, mrkdwn, pacing;
- `tasks.schedules`: schedules, their rules, and beat, where a planned run fires;
- `tasks.worker`: the Celery app's configuration and the worker: a job's life, lost jobs;
- `settings`, `errors`, `logs`, `store` (with `redis_url`, its Sentinel form), `metrics`: what
  every process shares.
"""
