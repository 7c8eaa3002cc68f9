"""What a monitoring plan costs per month on AWS, item by item.

Every price is in `prices` (us-east-1 list prices and the always-free allowances), every
volume nobody can know from the plan in `assumptions`, and the function sizes, alarms and
dashboard the stack deploys in `deployment`. `workload` counts what the plan makes AWS do
(series, metric queries, runs, shards, invocations); one module per service turns that into
its line items (`cloudwatch`, `compute`, `dynamodb`, `messaging`, `trail`), and
`estimate.estimate_cost` assembles them. All of it is pure: nothing is read from AWS.

What grows with the series is what evaluation must read: GetMetricData at one metric per
series and tick (the floor; a share of attempts reads each metric it adds up, and a metric
read by several series once), the series' state and likelihood tracker in DynamoDB, and the
evaluator's compute. Nothing is published per series: the dashboard draws each band when
someone looks (a few reads per view), and the logs of a tick list only the series that
changed.

Conventions: a month is 30 days (720 hours; `Assumptions.month_days`), rate() schedules
fire month/interval times, a GB is 2**30 bytes, and nothing is subtracted for the free tier
(each item says what the always-free allowance would take off, in `free_tier_usd`).
"""
