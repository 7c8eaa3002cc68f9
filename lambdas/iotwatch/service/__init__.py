"""Use cases that join the pure domain to the adapters; shared by the Lambdas, the CLI and the demo."""
