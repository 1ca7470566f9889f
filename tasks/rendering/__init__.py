"""Everything a person sees about a job, as Slack messages: status, results, tables, charts.

`messages` is the entry point (`render_result`, status lines, errors); `tables` and `charts`
draw a report's `Table` and `Chart`; `limits` holds Slack's limits on one message, which all of
them keep to. Pure: nothing here calls Slack or the store.
"""
