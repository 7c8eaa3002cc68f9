"""The monitoring plan: one validated model shared by the CDK app, the Lambdas and the CLI.

Its sections answer the AWS IoT monitoring guide's six questions: goals, resources,
frequency, tools, owners (who monitors) and notify (who is told); each section has its
module here."""
