"""What on-call reads: one message per topic and evaluation, rendered per protocol.

The shared types are in `model`; deviations render in `deviation` (e-mail, SMS and JSON
document in their own modules), control-plane calls in `audit`; `gsm7`, `console` and
`wording` hold what every message uses."""
