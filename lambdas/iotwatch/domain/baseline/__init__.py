"""Learning "normal" for one series from its own history (method `seasonal-level-v2`).

`model` holds the Baseline and what it expects, `build` the build and the hour-of-week
shape, `levels` the fleet-level solve, `layout` where training slots sit in the week,
`stats` the robust statistics."""
