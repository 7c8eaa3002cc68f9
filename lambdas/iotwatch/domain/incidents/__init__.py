"""Incidents: one fleet problem, however it spreads, from its first page to its RESOLVED.

`tick` holds the rules (`advance`) and says them in full; `model` the incident and its ids,
`news` what a tick says about a series, `membership` which incident a series joins, `owed`
what each topic is told, `record` the stored form."""
