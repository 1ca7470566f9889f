"""Schedules: what repeats, by which rule, in which zone; and beat, where a planned run fires.

`schedule` (rules, schedules, their store and limits, when each fires next), `beat` (the
Celery Beat scheduler that dispatches them, behind a leader lock, once per planned run).
"""
